// x86-64 4-level page tables with 4 KiB pages only (2 MiB pages triple-fault
// on PVM hosts). A PageTable names a PML4 by physical address; table pages are
// reached through the direct map. The kernel's own table is the boot PML4.
#pragma once
#include "kernel/spinlock.h"
#include "kernel/types.h"

class PageTable {
 public:
  static constexpr u64 P = 1, W = 2, U = 4, PWT = 8, PCD = 16, A = 32, D = 64, G = 256;
  static constexpr u64 NX = 1ull << 63;
  static constexpr u64 ADDR_MASK = 0x000ffffffffff000ull;

  // Supplies a zeroed page for a new table; returns 0 if none is left.
  using TableAlloc = Paddr (*)();

  explicit constexpr PageTable(Paddr root) : root_(root) {}

  // The kernel page table (shared upper half; also used by every CPU).
  static PageTable& kernel();

  // Makes the boot PML4 the kernel page table (BSP, before any mapping).
  static void init_kernel();

  // Physical address of the PML4.
  Paddr root() const { return root_; }

  // Maps the 4 KiB page at `va` to `pa` with `flags` (P is implied),
  // allocating missing tables from the page allocator. Returns false if `va`
  // is already mapped, memory ran out, or (kernel table) `va` is in the lower half.
  bool map(Vaddr va, Paddr pa, u64 flags);

  // Unmaps the 4 KiB page at `va` and flushes it from this CPU's TLB.
  // Returns the physical address it mapped, or 0 if it was not mapped.
  // (Other CPUs are not shot down yet.)
  Paddr unmap(Vaddr va);

  // Translates `va`; returns false if it is not mapped.
  bool lookup(Vaddr va, Paddr& pa) const;

  // Returns the entry that maps `va` at `level` (1 = PT ... 4 = PML4). With
  // `alloc`, missing tables above that level are created (kernel-only
  // intermediate entries unless `user`); without it, returns nullptr if one is missing.
  u64* entry(Vaddr va, unsigned level, TableAlloc alloc, bool user = false) const;

 private:
  Paddr root_;   // physical address of the PML4
  Spinlock lock_;
};
