// Physical page allocator (4 KiB pages).
//
// Free pages live on a LIFO list threaded through the pages themselves (via
// the direct map); pages never handed out are taken from the RAM ranges by a
// bump pointer, so start-up touches no page. The direct map initially covers
// the boot map; when the bump pointer gets near its end, grow() maps the next
// 2 MiB of RAM (one page-table page, filled with a 512-step loop).
// All RAM below the end of the kernel image stays reserved (boot area, AP
// trampoline, image).
#pragma once
#include "kernel/boot_info.h"
#include "kernel/types.h"

class PageAlloc {
 public:
  // Takes the RAM ranges of the memory map above `reserved_end`.
  static void init(Paddr reserved_end);

  // Allocates one page (contents undefined); returns 0 if memory ran out.
  static Paddr alloc();

  // Allocates one zeroed page; returns 0 if memory ran out.
  static Paddr alloc_zeroed();

  // Allocates one page known to be zero: a never-used page (RAM from a fresh
  // NVM file reads as zero; checked cheaply), else a freed page zeroed here
  // (counted in the descriptor: ring-0 zeroing is slow on PVM hosts).
  static Paddr alloc_clean();

  // Returns a page obtained from alloc().
  static void free(Paddr page);

  // Pages that alloc() can still hand out.
  static u64 free_pages();

  // Same as free_pages() from a counter (no scan, no lock).
  static u64 free_pages_fast() { return avail_; }

  // Pages managed (free or handed out) at init.
  static u64 total_pages() { return total_; }

  // End of the physical range the direct map covers so far.
  static Paddr mapped_end() { return mapped_end_; }

 private:
  // Next never-used RAM page at or above the bump pointer (without taking it); 0 if none.
  static Paddr peek();

  // Takes the next never-used RAM page, growing the direct map first if it runs short.
  static Paddr take();

  // Takes a never-used page below mapped_end_ and zeroes it, for a direct-map table.
  static Paddr take_table();

  // Maps the 2 MiB chunk holding the lowest RAM address at or above mapped_end_.
  static bool grow();

  static MemRange ranges_[BootInfo::MAX_RANGES];
  static unsigned count_;
  static unsigned cur_;      // range the bump pointer is in
  static Paddr bump_;        // next never-used page
  static Paddr mapped_end_;  // direct map covers RAM below this
  static Paddr free_head_;   // free list (0: empty)
  static u64 free_count_;
  static u64 avail_;
  static u64 total_;
};
