#include "user/net/virtqueue.h"

namespace net {

void Virtqueue::init(const Dma& dma, u64 off, uint16_t n) {
  desc = reinterpret_cast<VirtqDesc*>(dma.at(off));
  avail = reinterpret_cast<VirtqAvail*>(dma.at(off + 4096));
  used = reinterpret_cast<VirtqUsed*>(dma.at(off + 4096 + 1024));
  memset(dma.at(off), 0, PAGES * 4096);
  desc_pa = dma.pa(off);
  avail_pa = dma.pa(off + 4096);
  used_pa = dma.pa(off + 4096 + 1024);
  num = n;
  avail_idx = 0;
  last_used = 0;
}

bool Virtqueue::attach(const Mmio& m, uint16_t q) {
  index = q;
  m.write(QUEUE_SEL, q);
  u32 max = m.read(QUEUE_NUM_MAX);
  if (m.read(QUEUE_READY) || max < num) {
    u::print("%s: virtio queue %u not usable (max %u, ready %u)\n", u::prog, q, max, m.read(QUEUE_READY));
    return false;
  }
  m.write(QUEUE_NUM, num);
  m.write64(QUEUE_DESC_LOW, desc_pa);
  m.write64(QUEUE_DRIVER_LOW, avail_pa);
  m.write64(QUEUE_DEVICE_LOW, used_pa);
  m.write(QUEUE_READY, 1);
  return true;
}

}  // namespace net
