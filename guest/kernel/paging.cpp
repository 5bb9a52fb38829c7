#include "kernel/paging.h"

#include "arch/x86/cpu.h"
#include "arch/x86/memory.h"
#include "kernel/page_alloc.h"

extern "C" const Paddr boot_pml4_phys;  // boot.S

namespace {

PageTable kernel_table(0);

}  // namespace

PageTable& PageTable::kernel() { return kernel_table; }

void PageTable::init_kernel() { kernel_table.root_ = boot_pml4_phys; }

u64* PageTable::entry(Vaddr va, unsigned level, TableAlloc alloc, bool user) const {
  u64* table = phys_to_virt<u64>(root_);
  for (unsigned l = 4; l > level; l--) {
    u64& e = table[(va >> (12 + 9 * (l - 1))) & 511];
    if (!(e & P)) {
      if (!alloc) return nullptr;
      Paddr t = alloc();
      if (!t) return nullptr;
      e = t | P | W | A | (user ? U : 0);  // A preset: the CPU never writes tables back
    } else if (user && !(e & U)) {
      e |= U;
    }
    table = phys_to_virt<u64>(e & ADDR_MASK);
  }
  return &table[(va >> (12 + 9 * (level - 1))) & 511];
}

bool PageTable::map(Vaddr va, Paddr pa, u64 flags) {
  // The kernel table's lower half is the boot identity map, which shares its
  // PDPT with the direct map: mapping there would alias physical memory.
  if (this == &kernel_table && va < PHYS_BASE) return false;
  IrqLockGuard guard(lock_);
  u64* pte = entry(va, 1, &PageAlloc::alloc_zeroed, flags & U);
  if (!pte || (*pte & P)) return false;
  *pte = (pa & ADDR_MASK) | (flags & ~ADDR_MASK) | P | A | D;  // A and D preset (see boot.S)
  return true;
}

Paddr PageTable::unmap(Vaddr va) {
  IrqLockGuard guard(lock_);
  u64* pte = entry(va, 1, nullptr);
  if (!pte || !(*pte & P)) return 0;
  Paddr pa = *pte & ADDR_MASK;
  *pte = 0;
  x86::invlpg(va);
  return pa;
}

bool PageTable::lookup(Vaddr va, Paddr& pa) const {
  const u64* pte = entry(va, 1, nullptr);
  if (!pte || !(*pte & P)) return false;
  pa = (*pte & ADDR_MASK) | (va & (PAGE_SIZE - 1));
  return true;
}
