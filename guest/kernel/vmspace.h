// VMSpace: an address space -- a list of regions, each mapping a whole PMO
// at a user address with protections -- and the x86 page table derived from
// it. Page-table entries are filled on demand by the page-fault handler
// (commit a PMO page, map it); the upper half (kernel) is shared by every VMSpace.
#pragma once
#include "kernel/object.h"

class Pmo;
class CapGroup;

class VMSpace : public Object {
 public:
  static constexpr unsigned MAX_REGIONS = 16;

  struct Region {
    Vaddr va = 0;
    u64 pages = 0;
    Pmo* pmo = nullptr;  // a reference
    u32 prot = 0;        // sys::PROT_*
  };

  VMSpace() : Object(ObjType::VMSpace) {}

  // An empty address space (its PML4 shares the kernel's upper half).
  static VMSpace* create();

  static void destroy(VMSpace* v);

  // Physical address of the PML4 (CR3).
  u64 root() const { return pml4_; }

  // Adds a region mapping all of `pmo` at `va` (page aligned, in the lower half, not overlapping).
  i64 map(Pmo* pmo, Vaddr va, u32 prot);

  // Removes the region starting at `va`: clears its entries, shoots down other CPUs' TLBs.
  i64 unmap(Vaddr va);

  // Resolves a user page fault at `va` (write: a write access); false if it is a real fault.
  bool fault(Vaddr va, bool write);

  u64 mapped_pages = 0;     // pages covered by regions
  u64 committed_pages = 0;  // entries present in the page table
  CapGroup* owner = nullptr;

 private:
  // The PTE for `va`, creating tables if `alloc`; nullptr if missing or out of memory.
  u64* pte(Vaddr va, bool alloc);

  // Records a page-table page for destroy().
  bool track(Paddr table);

  Paddr pml4_ = 0;
  Paddr tables_ = 0;  // list page: [0] next list page, [1] count, [2..511] table pages
  Region regions_[MAX_REGIONS];
};
