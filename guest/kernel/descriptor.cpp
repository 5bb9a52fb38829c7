#include "kernel/descriptor.h"

#include "arch/x86/memory.h"
#include "kernel/cap_group.h"
#include "kernel/page_alloc.h"
#include "kernel/vmspace.h"

using hsls_desc::ProcSummary;

namespace {

hsls_desc::Descriptor* desc() { return phys_to_virt<hsls_desc::Descriptor>(DESCRIPTOR_PHYS); }

// Seqlock write side (writers are serialised by the BKL).
struct Write {
  Write() {
    __atomic_store_n(&desc()->seq, desc()->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
  }
  ~Write() { __atomic_store_n(&desc()->seq, desc()->seq + 1, __ATOMIC_RELEASE); }
};

}  // namespace

hsls_desc::Descriptor* Descriptor::get() { return desc(); }

void Descriptor::init(u64 total_pages, u64 tsc_hz) {
  hsls_desc::Descriptor* d = desc();
  u64* q = reinterpret_cast<u64*>(d);
  for (unsigned i = 0; i < PAGE_SIZE / 8; i++) q[i] = 0;
  for (unsigned i = 0; i < 8; i++) d->magic[i] = hsls_desc::DESC_MAGIC[i];
  d->version = hsls_desc::DESC_VERSION;
  d->size = sizeof(hsls_desc::Descriptor);
  d->phys_base = PHYS_BASE;
  d->tsc_hz = tsc_hz;
  d->pages_total = total_pages;
  d->pages_free = total_pages;
}

void Descriptor::created(ObjType t) {
  Write w;
  desc()->counts[unsigned(t)]++;
}

void Descriptor::destroyed(ObjType t) {
  Write w;
  desc()->counts[unsigned(t)]--;
}

void Descriptor::set_root(CapGroup* g) {
  Write w;
  desc()->root_kaddr = reinterpret_cast<u64>(g);
  desc()->root_paddr = virt_to_phys(g);
}

void Descriptor::proc_add(CapGroup* g) {
  hsls_desc::Descriptor* d = desc();
  int slot = -1;
  for (unsigned i = 0; i < d->nprocs; i++)
    if (d->procs[i].state == hsls_desc::PROC_FREE) {
      slot = int(i);
      break;
    }
  if (slot < 0 && d->nprocs < hsls_desc::DESC_MAX_PROCS) slot = int(d->nprocs);
  g->desc_slot = slot;
  if (slot < 0) return;  // table full: the process is not listed
  Write w;
  if (unsigned(slot) == d->nprocs) d->nprocs++;
  ProcSummary& p = d->procs[slot];
  p = ProcSummary{};
  p.pid = g->pid;
  p.parent_pid = g->parent_pid;
  p.state = g->state;
  for (unsigned i = 0; i < sizeof p.name; i++) p.name[i] = g->name[i];
  p.capgroup_kaddr = reinterpret_cast<u64>(g);
  p.capgroup_paddr = virt_to_phys(g);
}

void Descriptor::proc_update(CapGroup* g) {
  if (g->desc_slot < 0) return;
  Write w;
  ProcSummary& p = desc()->procs[g->desc_slot];
  p.state = g->state;
  p.exit_code = g->exit_code;
  p.threads = g->nthreads;
  p.caps = g->cap_count();
  p.mapped_pages = g->vms ? u32(g->vms->mapped_pages) : 0;
  p.committed_pages = g->vms ? u32(g->vms->committed_pages) : 0;
  desc()->pages_free = PageAlloc::free_pages_fast();
}

void Descriptor::proc_remove(CapGroup* g) {
  if (g->desc_slot < 0) return;
  Write w;
  hsls_desc::Descriptor* d = desc();
  d->procs[g->desc_slot] = ProcSummary{};
  while (d->nprocs && d->procs[d->nprocs - 1].state == hsls_desc::PROC_FREE) d->nprocs--;
  g->desc_slot = -1;
}

void Descriptor::pages_changed() {
  Write w;
  desc()->pages_free = PageAlloc::free_pages_fast();
}

void Descriptor::kernel_zeroed() {
  Write w;
  desc()->kernel_zeroed_pages++;
}

void Descriptor::cpu_current(unsigned cpu, u32 tid) { __atomic_store_n(&desc()->cpus[cpu].current_tid, tid, __ATOMIC_RELAXED); }

void Descriptor::cpu_tick(unsigned cpu, u64 ticks) { __atomic_store_n(&desc()->cpus[cpu].ticks, ticks, __ATOMIC_RELAXED); }

void Descriptor::cpu_online(unsigned cpu, unsigned ncpus) {
  Write w;
  desc()->cpus[cpu].online = 1;
  desc()->ncpus = ncpus;
}
