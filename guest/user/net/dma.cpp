#include "user/net/dma.h"

namespace net {

bool Dma::create(u64 pages) {
  if (!pages || pages > MAX_PAGES) return false;
  i64 slot = u::sc(sys::PMO_CREATE, pages, sys::PMO_DMA);
  if (slot < 0) {
    u::print("%s: cannot create %lu DMA pages (error %ld)\n", u::prog, pages, -slot);
    return false;
  }
  va_ = static_cast<u8*>(u::map_pmo(slot, pages));
  if (!va_) {
    u::print("%s: cannot map DMA pages\n", u::prog);
    return false;
  }
  for (u64 i = 0; i < pages; i++) {
    i64 pa = u::sc(sys::PMO_PADDR, u64(slot), i);
    if (pa <= 0) return false;
    pa_[i] = u64(pa);
  }
  pages_ = pages;
  return true;
}

}  // namespace net
