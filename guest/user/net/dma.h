// DMA memory for a device: a DMA PMO (pages committed at creation) mapped
// read/write, with the guest-physical address of every page (PMO_PADDR).
// Pages are not physically contiguous: a structure or buffer handed to the
// device must not cross a page boundary.
#pragma once
#include "user/ulib.h"

namespace net {

class Dma {
 public:
  static constexpr u64 MAX_PAGES = 256;

  // Creates and maps `pages` pages; false (with a message) on failure.
  bool create(u64 pages);

  // Address of byte `off` of the region.
  u8* at(u64 off) const { return va_ + off; }

  // Guest-physical address of byte `off`.
  u64 pa(u64 off) const { return pa_[off >> 12] + (off & 0xfff); }

  // Guest-physical address of a pointer into the region.
  u64 pa(const void* p) const { return pa(u64(static_cast<const u8*>(p) - va_)); }

  u64 pages() const { return pages_; }

 private:
  u8* va_ = nullptr;
  u64 pages_ = 0;
  u64 pa_[MAX_PAGES] = {};
};

}  // namespace net
