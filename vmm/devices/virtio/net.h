// virtio-net (device id 1) on virtio-mmio, cabled to a Link (a tap device
// or the built-in peer), with external synchrony: transmitted frames wait
// in a HoldQueue until the checkpoint of the epoch that queued them
// commits. Frames move (TX ring -> hold queue -> link, link -> RX ring) on
// one I/O thread when the link has a descriptor to wait on, else inline:
// on the thread that notified a queue and after each checkpoint. Either
// way they move under the transport's mutex, and the checkpointer takes
// that mutex (quiesce) for the whole stop-the-world pause, so a checkpoint
// sees rings, device state and memory agree.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/devices/virtio/mmio.h"
#include "vmm/core/event_fd.h"
#include "vmm/net/hold_queue.h"
#include "vmm/net/link.h"

namespace hsls::virtio {

struct NetConfig {
  std::array<uint8_t, 6> mac{};
  bool external_sync = true;
  unsigned max_held = 256;
};

// The device's checkpointed state; the held frames (HoldQueue::serialize) follow it.
struct NetState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint32_t pad = 0;
  uint8_t mac[6] = {};
  uint16_t link = 0;
  uint64_t held_bytes = 0;  // bytes of serialized frames after this struct
  MmioState mmio;
};

class VirtioNet : public VirtioBackend {
 public:
  static constexpr uint64_t kMmioBase = 0xd0000000;
  static constexpr uint32_t kGsi = 5;
  static constexpr unsigned kRxQueue = 0, kTxQueue = 1;

  // `epoch`: the version the next checkpoint will commit.
  VirtioNet(const NetConfig& cfg, std::shared_ptr<net::Link> link, Dma& dma, IrqEdge& irq, uint64_t epoch);
  ~VirtioNet() override;

  VirtioMmio& transport() { return mmio_; }
  // The eventfd a notification of queue `q` signals (for an ioeventfd);
  // null when frames move inline (a notification must reach notify()).
  const EventFd* notify_event(unsigned q) const;
  // What to append to the guest command line.
  static std::string cmdline_entry();

  void start();
  void stop();
  // Power failure: the I/O thread stops at once and touches nothing more;
  // held frames are lost. Never blocks (the I/O thread may be stuck).
  void power_off();

  // --- checkpoint hooks; the caller holds transport().mutex() ---
  void save(std::vector<uint8_t>& out) const;
  // Loads a saved state (before start); throws Error if it is malformed.
  void restore(std::span<const uint8_t> in);
  // Checkpoint `version` committed: its frames may go.
  void committed(uint64_t version);
  // The checkpoint's pause is over (transport not locked): inline, the
  // frames it let go leave now, and what the link answered comes in.
  void resumed();

  // Counters since vmm started (across power failures), hold times since this power-on.
  nlohmann::json info();

  // VirtioBackend
  uint32_t device_id() const override;
  uint64_t device_features() const override;
  unsigned queue_count() const override { return 2; }
  void read_config(uint64_t offset, uint8_t* data, unsigned len) override;
  void notify(unsigned q) override;
  void reset() override;

 private:
  void io_loop();
  bool inline_io() const { return link_->fd() < 0; }
  void move_frames();
  void move_frames_now();
  void process_tx();
  void process_rx();
  void send_released();
  void set_rx_polling(bool on);
  nlohmann::json counters() const;

  NetConfig cfg_;
  std::shared_ptr<net::Link> link_;
  Dma& dma_;
  VirtioMmio mmio_;
  net::HoldQueue hold_;
  uint64_t epoch_;           // tag of frames queued now (lock held)
  uint64_t committed_ = 0;   // last committed version (lock held)
  EventFd rx_kick_, tx_kick_, release_kick_, stop_kick_;
  std::thread io_;
  std::atomic<bool> dead_{false};
  bool carried_ = false;  // counters added to the process totals
  int epoll_ = -1;
  bool rx_polling_ = false;
  std::vector<uint8_t> buf_;
  // Counters (lock held).
  uint64_t tx_frames_ = 0, rx_frames_ = 0, rx_dropped_ = 0, tx_dropped_ = 0, link_errors_ = 0;
};

}  // namespace hsls::virtio
