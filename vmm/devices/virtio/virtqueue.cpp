#include "vmm/devices/virtio/virtqueue.h"

#include <fmt/format.h>

#include "vmm/devices/virtio/virtio.h"

namespace hsls::virtio {
namespace {

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == 16);

}  // namespace

bool Virtqueue::check_layout(std::string& why) const {
  uint64_t n = st_.num;
  if (n == 0 || n > kQueueMax || (n & (n - 1))) {
    why = fmt::format("queue size {} is not a power of two up to {}", n, kQueueMax);
    return false;
  }
  if (st_.desc % 16 || !dma_.contains(st_.desc, 16 * n)) {
    why = fmt::format("descriptor table at {:#x} is not in guest RAM (or misaligned)", st_.desc);
    return false;
  }
  if (st_.avail % 2 || !dma_.contains(st_.avail, 6 + 2 * n)) {
    why = fmt::format("available ring at {:#x} is not in guest RAM (or misaligned)", st_.avail);
    return false;
  }
  if (st_.used % 4 || !dma_.contains(st_.used, 6 + 8 * n)) {
    why = fmt::format("used ring at {:#x} is not in guest RAM (or misaligned)", st_.used);
    return false;
  }
  return true;
}

bool Virtqueue::has_available(bool& malformed, std::string& why) const {
  malformed = false;
  uint16_t idx = 0;
  if (!dma_.load16(st_.avail + 2, idx)) {
    malformed = true;
    why = "available ring is outside guest RAM";
    return false;
  }
  uint16_t pending = uint16_t(idx - st_.last_avail);
  if (pending > st_.num) {
    malformed = true;
    why = fmt::format("available index jumped from {} to {} (queue size {})", st_.last_avail, idx, st_.num);
    return false;
  }
  return pending != 0;
}

Pop Virtqueue::pop(Chain& out, std::string& why) {
  bool malformed = false;
  if (!has_available(malformed, why)) return malformed ? Pop::malformed : Pop::empty;
  uint16_t head = 0;
  if (!dma_.load16(st_.avail + 4 + 2 * (st_.last_avail % st_.num), head)) {
    why = "available ring entry is outside guest RAM";
    return Pop::malformed;
  }
  if (head >= st_.num) {
    why = fmt::format("chain head {} is beyond the queue size {}", head, st_.num);
    return Pop::malformed;
  }
  out.head = head;
  out.bufs.clear();
  out.readable = out.writable = 0;
  uint16_t i = head;
  for (unsigned count = 0;; ++count) {
    if (count >= st_.num) {
      why = fmt::format("descriptor chain from {} is longer than the queue (a loop?)", head);
      return Pop::malformed;
    }
    Desc d;
    if (!dma_.read(st_.desc + 16ull * i, &d, sizeof d)) {
      why = "descriptor table is outside guest RAM";
      return Pop::malformed;
    }
    if (d.flags & kDescIndirect) {
      why = fmt::format("descriptor {} is indirect, which was not negotiated", i);
      return Pop::malformed;
    }
    if (!dma_.contains(d.addr, d.len)) {
      why = fmt::format("descriptor {} names [{:#x}, +{:#x}) outside guest RAM", i, d.addr, d.len);
      return Pop::malformed;
    }
    bool w = d.flags & kDescWrite;
    if (!w && out.writable) {
      why = fmt::format("descriptor {} is device-readable after a device-writable one", i);
      return Pop::malformed;
    }
    out.bufs.push_back({d.addr, d.len, w});
    (w ? out.writable : out.readable) += d.len;
    if (!(d.flags & kDescNext)) break;
    if (d.next >= st_.num) {
      why = fmt::format("descriptor {} links to {} beyond the queue size {}", i, d.next, st_.num);
      return Pop::malformed;
    }
    i = d.next;
  }
  ++st_.last_avail;
  return Pop::ok;
}

bool Virtqueue::push(uint16_t head, uint32_t len) {
  struct {
    uint32_t id, len;
  } elem{head, len};
  if (!dma_.write(st_.used + 4 + 8ull * (st_.used_idx % st_.num), &elem, sizeof elem)) return false;
  ++st_.used_idx;
  // The element is visible before the index (the write above is a system call).
  return dma_.write(st_.used + 2, &st_.used_idx, sizeof st_.used_idx);
}

bool Virtqueue::wants_interrupt() const {
  uint16_t flags = 0;
  return !dma_.load16(st_.avail, flags) || !(flags & 1);
}

}  // namespace hsls::virtio
