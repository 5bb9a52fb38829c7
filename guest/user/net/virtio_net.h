// virtio-net driver (virtio 1.x §5.1) over virtio-mmio: negotiates
// VERSION_1, MAC and STATUS; queue 0 receives, queue 1 transmits; every
// buffer is one descriptor of BUF bytes in DMA memory (a 12-byte
// virtio_net_hdr, then the frame). Receive buffers are reposted in batches;
// transmitted buffers are reclaimed when a new one is needed (no transmit
// interrupts). Waiting polls the receive ring for a while, then blocks on the
// device's IrqNotification. Single-threaded.
#pragma once
#include "user/net/dma.h"
#include "user/net/virtio_mmio.h"
#include "user/net/virtqueue.h"

namespace net {

struct NetCounters {
  u64 rx_frames = 0, tx_frames = 0;
  u64 rx_bad = 0;        // receive buffers too short to hold a frame
  u64 tx_full = 0;       // transmits refused: every buffer in flight
  u64 irq_wakeups = 0;   // waits ended by the interrupt
  u64 poll_hits = 0;     // waits ended while polling
  u64 notifies = 0;      // QueueNotify writes
  u64 resets = 0;        // restarts after DEVICE_NEEDS_RESET
};

class VirtioNet {
 public:
  static constexpr uint16_t QUEUE = 64;      // entries per queue (= buffers per direction)
  static constexpr u32 BUF = 2048;           // bytes per buffer (two per page)
  static constexpr u32 HDR = 12;             // virtio_net_hdr (VERSION_1 layout)
  static constexpr u32 MAX_FRAME = 1514;     // Ethernet frame without FCS
  static constexpr u64 RX_REFILL_BATCH = 16; // reposted buffers per notification

  struct Frame {
    u8* data;
    u32 len;
    uint16_t id;  // hand back with rx_done()
  };

  // Opens the device whose register PMO and IrqNotification are in the
  // given slots and brings it up. False (with a message) on failure.
  bool open(i64 regs_slot, i64 irq_slot);

  // Resets the device and brings it up again (buffers in flight are dropped).
  bool restart();

  const u8* mac() const { return mac_; }
  bool link_up() const;

  // The next received frame, or false. Hand it back with rx_done().
  bool rx_next(Frame& f);
  void rx_done(uint16_t id);

  // A transmit buffer (MAX_FRAME bytes of room) or nullptr if all are in flight.
  u8* tx_buffer(uint16_t& id);
  // Transmit buffers the device has not returned yet (reclaims the returned ones).
  unsigned tx_in_flight();
  // The frame area of transmit buffer `id` (as tx_buffer() returned it).
  u8* tx_frame(uint16_t id) const { return dma_.at(tx_base_ + u64(id) * BUF + HDR); }
  // Sends `len` bytes written to buffer `id` (short frames are zero-padded to 60).
  void tx_send(uint16_t id, u32 len);

  // Returns once a frame may have arrived: at once if one is there, else after
  // polling the receive ring for up to `poll_us`, else after the interrupt (or
  // `timeout_us`, 0 = none). Acknowledges the interrupt.
  void wait(u64 poll_us, u64 timeout_us);

  // True if the device reported DEVICE_NEEDS_RESET (checked after a config interrupt, or when `force`).
  bool needs_reset(bool force = false);

  const Mmio& mmio() const { return m_; }
  NetCounters counters;

 private:
  bool bring_up();
  void ack();

  Mmio m_;
  i64 irq_ = -1;
  Dma dma_;
  Virtqueue rx_, tx_;
  u64 rx_base_ = 0, tx_base_ = 0;  // offsets of the buffer areas in dma_
  uint16_t tx_free_[QUEUE];
  unsigned ntx_free_ = 0;
  u64 rx_unnotified_ = 0;
  bool config_changed_ = false;
  u64 features_ = 0;
  u8 mac_[6] = {};
};

}  // namespace net
