#include "kernel/vmspace.h"

#include "abi/syscall.h"
#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "arch/x86/memory.h"
#include "kernel/cap_group.h"
#include "kernel/descriptor.h"
#include "kernel/page_alloc.h"
#include "kernel/paging.h"
#include "kernel/percpu.h"
#include "kernel/pmo.h"
#include "kernel/thread.h"

namespace {
constexpr u64 PTE_P = 1, PTE_W = 2, PTE_U = 4, PTE_PWT = 8, PTE_PCD = 16, ADDR = 0x000ffffffffff000ull;
// Accessed and dirty preset in every entry: the CPU then never writes a page
// table back, so tables change only by the kernel's own (logged) stores.
constexpr u64 PTE_A = 32, PTE_D = 64;
}

VMSpace* VMSpace::create() {
  VMSpace* v = knew<VMSpace>();
  if (!v) return nullptr;
  v->pml4_ = PageAlloc::alloc_clean();
  if (!v->pml4_ || !v->track(v->pml4_)) {
    if (v->pml4_) PageAlloc::free(v->pml4_);
    kdelete(v);
    return nullptr;
  }
  // The kernel's upper half uses PML4 slots 256 (direct map) and 511 (image).
  u64* k = phys_to_virt<u64>(PageTable::kernel().root());
  u64* u = phys_to_virt<u64>(v->pml4_);
  u[256] = k[256];
  u[511] = k[511];
  Descriptor::created(ObjType::VMSpace);
  return v;
}

bool VMSpace::track(Paddr table) {
  u64* list = tables_ ? phys_to_virt<u64>(tables_) : nullptr;
  if (!list || list[1] == 510) {
    Paddr page = PageAlloc::alloc();
    if (!page) return false;
    u64* n = phys_to_virt<u64>(page);
    n[0] = tables_;
    n[1] = 0;
    tables_ = page;
    list = n;
  }
  list[2 + list[1]++] = table;
  return true;
}

void VMSpace::destroy(VMSpace* v) {
  for (Region& r : v->regions_)
    if (r.pmo) r.pmo->put();
  // Page-table pages go back without being cleared (they are not "known zero").
  for (Paddr l = v->tables_; l;) {
    u64* list = phys_to_virt<u64>(l);
    for (u64 i = 0; i < list[1]; i++) PageAlloc::free(list[2 + i]);
    Paddr next = list[0];
    PageAlloc::free(l);
    l = next;
  }
  Descriptor::destroyed(ObjType::VMSpace);
  kdelete(v);
}

u64* VMSpace::pte(Vaddr va, bool alloc) {
  u64* table = phys_to_virt<u64>(pml4_);
  for (unsigned level = 4; level > 1; level--) {
    u64& e = table[(va >> (12 + 9 * (level - 1))) & 511];
    if (!(e & PTE_P)) {
      if (!alloc) return nullptr;
      Paddr t = PageAlloc::alloc_clean();
      if (!t) return nullptr;
      if (!track(t)) {
        PageAlloc::free(t);
        return nullptr;
      }
      e = t | PTE_P | PTE_W | PTE_U | PTE_A;
    }
    table = phys_to_virt<u64>(e & ADDR);
  }
  return &table[(va >> 12) & 511];
}

i64 VMSpace::map(Pmo* pmo, Vaddr va, u32 prot) {
  u64 len = pmo->pages * PAGE_SIZE;
  if ((va & (PAGE_SIZE - 1)) || !va || va >= sys::USER_LIMIT || len > sys::USER_LIMIT - va) return -sys::EINVAL;
  if ((prot & sys::PROT_WRITE) && pmo->readonly) return -sys::EPERM;
  Region* free = nullptr;
  for (Region& r : regions_) {
    if (!r.pmo) {
      if (!free) free = &r;
      continue;
    }
    if (va < r.va + r.pages * PAGE_SIZE && r.va < va + len) return -sys::EBUSY;
  }
  if (!free) return -sys::EFULL;
  *free = Region{va, pmo->pages, pmo, prot};
  pmo->get();
  mapped_pages += pmo->pages;
  if (owner) Descriptor::proc_update(owner);
  return 0;
}

i64 VMSpace::unmap(Vaddr va) {
  Region* r = nullptr;
  for (Region& x : regions_)
    if (x.pmo && x.va == va) r = &x;
  if (!r) return -sys::ENOENT;
  for (u64 i = 0; i < r->pages; i++) {
    u64* e = pte(r->va + i * PAGE_SIZE, false);
    if (e && (*e & PTE_P)) {
      *e = 0;
      committed_pages--;
      x86::invlpg(r->va + i * PAGE_SIZE);
    }
  }
  // Shoot down the TLBs of other CPUs running this address space.
  Cpu& me = Cpu::current();
  for (unsigned i = 0; i < MAX_CPUS; i++) {
    if (i == me.id || !cpus[i].online || cpus[i].cr3 != pml4_) continue;
    __atomic_store_n(&cpus[i].flush_pending, 1, __ATOMIC_RELEASE);
    Lapic::send_ipi(i, VEC_RESCHED);
  }
  for (unsigned i = 0; i < MAX_CPUS; i++)
    while (__atomic_load_n(&cpus[i].flush_pending, __ATOMIC_ACQUIRE)) x86::pause();
  mapped_pages -= r->pages;
  Pmo* p = r->pmo;
  *r = Region{};
  p->put();
  if (owner) Descriptor::proc_update(owner);
  return 0;
}

bool VMSpace::fault(Vaddr va, bool write) {
  va &= ~Vaddr(PAGE_SIZE - 1);
  for (Region& r : regions_) {
    if (!r.pmo || va < r.va || va >= r.va + r.pages * PAGE_SIZE) continue;
    if (write && !(r.prot & sys::PROT_WRITE)) return false;
    if (!(r.prot & (sys::PROT_READ | sys::PROT_WRITE | sys::PROT_EXEC))) return false;
    u64* e = pte(va, true);
    if (!e) return false;
    if (*e & PTE_P) return false;  // present: a protection fault
    Paddr pa = r.pmo->page((va - r.va) / PAGE_SIZE, true);
    if (!pa) return false;
    *e = pa | PTE_P | PTE_U | PTE_A | PTE_D | ((r.prot & sys::PROT_WRITE) ? PTE_W : 0) | (r.pmo->device ? PTE_PCD | PTE_PWT : 0);
    committed_pages++;
    if (owner && !(committed_pages & 15)) Descriptor::proc_update(owner);  // every 16th: faults are hot
    return true;
  }
  return false;
}
