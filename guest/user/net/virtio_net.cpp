#include "user/net/virtio_net.h"

namespace net {

namespace {
constexpr u64 WANT = (1ull << F_VERSION_1) | (1ull << F_NET_MAC) | (1ull << F_NET_STATUS);
constexpr u64 NEED = 1ull << F_VERSION_1;
}  // namespace

bool VirtioNet::open(i64 regs_slot, i64 irq_slot) {
  if (!mmio_open(regs_slot, VIRTIO_ID_NET, m_)) return false;
  irq_ = irq_slot;
  // Two queues, then the buffers: QUEUE of each, two per page.
  constexpr u64 buf_pages = QUEUE / (4096 / BUF);
  if (!dma_.create(2 * Virtqueue::PAGES + 2 * buf_pages)) return false;
  rx_base_ = 2 * Virtqueue::PAGES * 4096;
  tx_base_ = rx_base_ + buf_pages * 4096;
  return bring_up();
}

bool VirtioNet::restart() {
  counters.resets++;
  return bring_up();
}

bool VirtioNet::bring_up() {
  if (!reset(m_) || !negotiate(m_, WANT, NEED, features_)) return false;
  rx_.init(dma_, 0, QUEUE);
  tx_.init(dma_, Virtqueue::PAGES * 4096, QUEUE);
  for (uint16_t i = 0; i < QUEUE; i++) {
    rx_.desc[i] = VirtqDesc{dma_.pa(rx_base_ + u64(i) * BUF), BUF, DESC_F_WRITE, 0};
    rx_.publish(i);
    tx_free_[i] = i;
  }
  ntx_free_ = QUEUE;
  rx_unnotified_ = 0;
  tx_.set_interrupts(false);
  if (!rx_.attach(m_, 0) || !tx_.attach(m_, 1)) {
    m_.write(STATUS, S_FAILED);
    return false;
  }
  if (features_ & (1ull << F_NET_MAC)) {
    u32 gen;
    do {
      gen = m_.read(CONFIG_GENERATION);
      for (unsigned i = 0; i < 6; i++) mac_[i] = m_.read8(CONFIG + i);
    } while (gen != m_.read(CONFIG_GENERATION));
  } else {
    // A locally administered address of our own.
    u64 x = u::rdtsc();
    const u8 mac[6] = {0x02, 0x48, 0x53, u8(x >> 8), u8(x >> 16), u8(x >> 24)};
    memcpy(mac_, mac, 6);
  }
  m_.write(STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
  rx_.notify(m_);
  counters.notifies++;
  config_changed_ = false;
  return true;
}

bool VirtioNet::link_up() const {
  if (!(features_ & (1ull << F_NET_STATUS))) return true;
  return m_.read16(CONFIG + 6) & 1;
}

bool VirtioNet::rx_next(Frame& f) {
  u32 id, len;
  while (rx_.pop_used(id, len)) {
    if (id >= QUEUE) continue;  // not ours: the device is broken (it will say so)
    if (len <= HDR + 14 || len > BUF) {
      counters.rx_bad++;
      rx_done(uint16_t(id));
      continue;
    }
    counters.rx_frames++;
    f = Frame{dma_.at(rx_base_ + u64(id) * BUF + HDR), len - HDR, uint16_t(id)};
    return true;
  }
  return false;
}

void VirtioNet::rx_done(uint16_t id) {
  rx_.publish(id);
  if (++rx_unnotified_ >= RX_REFILL_BATCH) {
    rx_unnotified_ = 0;
    if (rx_.wants_notify()) {
      rx_.notify(m_);
      counters.notifies++;
    }
  }
}

unsigned VirtioNet::tx_in_flight() {
  u32 used_id, len;
  while (tx_.pop_used(used_id, len))
    if (used_id < QUEUE && ntx_free_ < QUEUE) tx_free_[ntx_free_++] = uint16_t(used_id);
  return QUEUE - ntx_free_;
}

u8* VirtioNet::tx_buffer(uint16_t& id) {
  if (tx_in_flight() == QUEUE) {
    counters.tx_full++;
    return nullptr;
  }
  id = tx_free_[--ntx_free_];
  u8* buf = dma_.at(tx_base_ + u64(id) * BUF);
  memset(buf, 0, HDR);
  return buf + HDR;
}

void VirtioNet::tx_send(uint16_t id, u32 len) {
  u8* frame = tx_frame(id);
  if (len < 60) {
    memset(frame + len, 0, 60 - len);
    len = 60;
  }
  if (len > MAX_FRAME) len = MAX_FRAME;
  tx_.desc[id] = VirtqDesc{dma_.pa(tx_base_ + u64(id) * BUF), HDR + len, 0, 0};
  tx_.publish(id);
  counters.tx_frames++;
  if (tx_.wants_notify()) {
    tx_.notify(m_);
    counters.notifies++;
  }
}

void VirtioNet::ack() {
  u32 isr = m_.read(INTERRUPT_STATUS);
  if (!isr) return;
  m_.write(INTERRUPT_ACK, isr);
  if (isr & ISR_CONFIG) config_changed_ = true;
}

void VirtioNet::wait(u64 poll_us, u64 timeout_us) {
  if (rx_.has_used()) return;
  if (poll_us) {
    u64 end = u::rdtsc() + poll_us * u::tsc_per_us;
    do {
      asm volatile("pause");
      if (rx_.has_used()) {
        counters.poll_hits++;
        return;
      }
    } while (i64(u::rdtsc() - end) < 0);
  }
  rx_.set_interrupts(true);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (!rx_.has_used() && u::wait(irq_, timeout_us) == 0) {
    counters.irq_wakeups++;
    ack();
  }
  rx_.set_interrupts(false);
}

bool VirtioNet::needs_reset(bool force) {
  if (!force && !config_changed_) return false;
  config_changed_ = false;
  return m_.read(STATUS) & S_NEEDS_RESET;
}

}  // namespace net
