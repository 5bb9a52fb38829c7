// PMO (physical memory object): a sized set of physical pages that VMSpaces
// map. ANON pages are committed lazily (on first touch, from pages known to be
// zero); DMA pages are committed at creation and their guest-physical
// addresses may be read by a user driver (sys::PMO_PADDR); PHYS names a fixed
// contiguous physical range (device memory, program images in the kernel image).
// A device PMO (PHYS, `device`) is mapped uncached; `window` is the offset of
// the device's register window in its first page.
#pragma once
#include "kernel/object.h"

class Pmo : public Object {
 public:
  enum Kind : u8 { ANON, DMA, PHYS };
  static constexpr u64 MAX_PAGES = 512ull * 512;  // 1 GiB (two-level index)
  static constexpr unsigned DIRECT = 16;

  Kind kind = ANON;
  bool readonly = false;   // PHYS images: never mapped writable
  bool device = false;     // PHYS device memory: mapped uncached
  u16 window = 0;          // device: offset of the register window in page 0
  u64 pages = 0;
  u64 committed = 0;       // pages with physical memory
  Paddr base = 0;          // PHYS: first page

  Pmo() : Object(ObjType::Pmo) {}

  // A PMO of `pages` pages of `kind` (ANON or DMA); nullptr if out of memory.
  static Pmo* create(u64 pages, Kind kind);

  // A PMO naming physical [base, base + pages * 4 KiB).
  static Pmo* create_phys(Paddr base, u64 pages, bool readonly);

  static void destroy(Pmo* p);

  // Physical address of page i, committing a zero page if `commit` and it has
  // none yet; 0 if it has none (or memory ran out).
  Paddr page(u64 i, bool commit);

 private:
  Paddr direct_[DIRECT] = {};  // pages <= DIRECT
  Paddr root_ = 0;             // pages > DIRECT: a page of leaf-page addresses (512 pages each)
};
