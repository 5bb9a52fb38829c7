// A split virtqueue (virtio 1.x §2.7) in DMA memory: the descriptor table in
// one page, the available ring at the start of the next and the used ring at
// offset 1024 of it. At most 256 entries (the table fills its page).
// Single-threaded: one thread owns a queue.
#pragma once
#include "user/net/dma.h"
#include "user/net/virtio_mmio.h"

namespace net {

struct VirtqDesc {
  u64 addr;
  u32 len;
  uint16_t flags;
  uint16_t next;
};
struct VirtqUsedElem {
  u32 id;
  u32 len;
};
struct VirtqAvail {
  uint16_t flags;
  uint16_t idx;
  uint16_t ring[];
};
struct VirtqUsed {
  uint16_t flags;
  uint16_t idx;
  VirtqUsedElem ring[];
};

enum : uint16_t { DESC_F_NEXT = 1, DESC_F_WRITE = 2, AVAIL_F_NO_INTERRUPT = 1, USED_F_NO_NOTIFY = 1 };

struct Virtqueue {
  static constexpr u64 PAGES = 2;  // DMA pages a queue takes
  static constexpr uint16_t MAX = 256;

  VirtqDesc* desc = nullptr;
  VirtqAvail* avail = nullptr;
  VirtqUsed* used = nullptr;
  u64 desc_pa = 0, avail_pa = 0, used_pa = 0;
  uint16_t num = 0;        // entries (a power of two)
  uint16_t index = 0;      // queue number in the device
  uint16_t avail_idx = 0;  // next available-ring index (our copy of avail->idx)
  uint16_t last_used = 0;  // next used-ring index to consume

  // Lays the queue out in `dma` at page-aligned offset `off` (PAGES pages,
  // zero) with `num` entries, clearing the indices.
  void init(const Dma& dma, u64 off, uint16_t num);

  // Programs it as queue `index` (QueueSel, QueueNum, addresses, QueueReady).
  // False (with a message) if the queue is in use or too small.
  bool attach(const Mmio& m, uint16_t index);

  // Makes the chain starting at descriptor `head` available (no notification).
  void publish(uint16_t head) {
    avail->ring[avail_idx & (num - 1)] = head;
    avail_idx++;
    __atomic_store_n(&avail->idx, avail_idx, __ATOMIC_RELEASE);
  }

  // True unless the device asked not to be notified (call after publish()).
  bool wants_notify() const {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return !(__atomic_load_n(&used->flags, __ATOMIC_ACQUIRE) & USED_F_NO_NOTIFY);
  }

  void notify(const Mmio& m) const { m.write(QUEUE_NOTIFY, index); }

  // True if the device has returned a buffer we have not consumed.
  bool has_used() const { return __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) != last_used; }

  // Consumes the next used element; false if there is none.
  bool pop_used(u32& id, u32& len) {
    if (!has_used()) return false;
    const VirtqUsedElem& e = used->ring[last_used & (num - 1)];
    id = e.id;
    len = e.len;
    last_used++;
    return true;
  }

  // Asks the device for interrupts on used buffers, or not (a hint).
  void set_interrupts(bool on) { __atomic_store_n(&avail->flags, on ? 0 : AVAIL_F_NO_INTERRUPT, __ATOMIC_RELEASE); }
};

}  // namespace net
