#include "vmm/devices/virtio/mmio.h"

#include <cstring>

#include "vmm/core/log.h"
#include "vmm/devices/virtio/virtio.h"

namespace hsls::virtio {

VirtioMmio::VirtioMmio(std::string name, VirtioBackend& backend, Dma& dma, IrqEdge& irq)
    : name_(std::move(name)), backend_(backend), dma_(dma), irq_(irq) {}

void VirtioMmio::read(uint64_t offset, uint8_t* data, unsigned len) {
  std::lock_guard lock(mu_);
  if (offset >= kConfig) {
    backend_.read_config(offset - kConfig, data, len);
    return;
  }
  uint32_t v = (len == 4 && offset % 4 == 0) ? read_reg(offset) : 0;
  std::memcpy(data, &v, std::min(len, 4u));
  if (len > 4) std::memset(data + 4, 0, len - 4);
}

void VirtioMmio::write(uint64_t offset, const uint8_t* data, unsigned len) {
  int notify = -1;
  {
    std::lock_guard lock(mu_);
    if (len != 4 || offset % 4 || offset >= kConfig) return;  // config space is read-only for net
    uint32_t v;
    std::memcpy(&v, data, 4);
    notify = write_reg(offset, v);
  }
  if (notify >= 0) backend_.notify(unsigned(notify));
}

QueueState* VirtioMmio::selected() {
  return st_.queue_sel < backend_.queue_count() ? &st_.queues[st_.queue_sel] : nullptr;
}

uint32_t VirtioMmio::read_reg(uint64_t offset) {
  QueueState* q = selected();
  switch (offset) {
    case kMagicValue: return kMagic;
    case kVersion: return kMmioVersion;
    case kDeviceId: return backend_.device_id();
    case kVendorId: return kVendor;
    case kDeviceFeatures:
      return st_.device_features_sel < 2 ? uint32_t(backend_.device_features() >> (32 * st_.device_features_sel)) : 0;
    case kQueueNumMax: return q ? kQueueMax : 0;
    case kQueueReady: return q ? q->ready : 0;
    case kInterruptStatus: return st_.interrupt_status;
    case kStatus: return st_.status;
    case kConfigGeneration: return st_.config_generation;
    default: return 0;
  }
}

int VirtioMmio::write_reg(uint64_t offset, uint32_t v) {
  QueueState* q = selected();
  // Queue registers may change only while the queue is not ready.
  bool q_writable = q && !q->ready;
  auto set_lo = [](uint64_t& field, uint32_t v) { field = (field & ~0xffffffffull) | v; };
  auto set_hi = [](uint64_t& field, uint32_t v) { field = (field & 0xffffffffull) | (uint64_t(v) << 32); };
  switch (offset) {
    case kDeviceFeaturesSel: st_.device_features_sel = v; break;
    case kDriverFeaturesSel: st_.driver_features_sel = v; break;
    case kDriverFeatures:
      if (st_.driver_features_sel == 0) set_lo(st_.driver_features, v);
      else if (st_.driver_features_sel == 1) set_hi(st_.driver_features, v);
      break;
    case kQueueSel: st_.queue_sel = v; break;
    case kQueueNum: if (q_writable) q->num = uint16_t(std::min<uint32_t>(v, 0xffff)); break;
    case kQueueDescLow: if (q_writable) set_lo(q->desc, v); break;
    case kQueueDescHigh: if (q_writable) set_hi(q->desc, v); break;
    case kQueueDriverLow: if (q_writable) set_lo(q->avail, v); break;
    case kQueueDriverHigh: if (q_writable) set_hi(q->avail, v); break;
    case kQueueDeviceLow: if (q_writable) set_lo(q->used, v); break;
    case kQueueDeviceHigh: if (q_writable) set_hi(q->used, v); break;
    case kQueueReady:
      if (!q) break;
      if (v == 1 && !q->ready) {
        std::string why;
        if (!Virtqueue(dma_, *q).check_layout(why)) {
          fail(fmt::format("queue {}: {}", st_.queue_sel, why));
          break;
        }
        q->ready = 1;
        q->last_avail = q->used_idx = 0;
      } else if (v == 0) {
        q->ready = 0;
      }
      break;
    case kQueueNotify:
      if (v < backend_.queue_count()) return int(v);
      break;
    case kInterruptAck: st_.interrupt_status &= ~v; break;
    case kStatus: set_status(v); break;
    default: break;
  }
  return -1;
}

void VirtioMmio::set_status(uint32_t v) {
  if (v == 0) {  // reset: forget everything the driver set up
    uint32_t gen = st_.config_generation;
    st_ = MmioState{};
    st_.config_generation = gen + 1;
    backend_.reset();
    return;
  }
  if ((v & kFeaturesOk) && !(st_.status & kFeaturesOk)) {
    // Only a subset of what we offer, and the modern interface, is acceptable.
    uint64_t offered = backend_.device_features();
    if ((st_.driver_features & ~offered) || !(st_.driver_features & kFVersion1)) v &= ~uint32_t(kFeaturesOk);
  }
  st_.status = (st_.status & kNeedsResetBit) | (v & ~kNeedsResetBit);
}

bool VirtioMmio::live(unsigned q) const {
  return (st_.status & kDriverOk) && !(st_.status & kNeedsResetBit) && q < backend_.queue_count() &&
         st_.queues[q].ready;
}

void VirtioMmio::raise(uint32_t bits) {
  st_.interrupt_status |= bits;
  irq_.trigger();
}

void VirtioMmio::fail(const std::string& why) {
  ++malformed_;
  if (st_.status & kNeedsResetBit) return;
  st_.status |= kNeedsResetBit;
  log::get("virtio")->error("{}: the driver broke the virtio rules ({}); device needs a reset", name_, why);
  raise(kIntConfigChange);
}

}  // namespace hsls::virtio
