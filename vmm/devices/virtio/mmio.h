// The virtio-mmio transport (virtio 1.x §4.2, modern only): the register
// window a driver programs, the queues' registers, status and interrupt
// status. The device behind it (VirtioBackend) supplies its id, features,
// config space and what happens on a queue notification. One mutex guards
// the transport and the backend's state: vCPU threads (register accesses)
// and the backend's I/O thread both take it.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <string>

#include "vmm/devices/device.h"
#include "vmm/devices/dma.h"
#include "vmm/devices/virtio/virtqueue.h"

namespace hsls::virtio {

inline constexpr unsigned kMaxQueues = 2;

// Everything the driver can observe of the transport; checkpointed as is.
struct MmioState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint32_t status = 0;
  uint32_t device_features_sel = 0;
  uint32_t driver_features_sel = 0;
  uint32_t queue_sel = 0;
  uint32_t interrupt_status = 0;
  uint32_t config_generation = 0;
  uint32_t pad = 0;
  uint64_t driver_features = 0;
  QueueState queues[kMaxQueues];
};

class VirtioBackend {
 public:
  virtual ~VirtioBackend() = default;
  virtual uint32_t device_id() const = 0;
  virtual uint64_t device_features() const = 0;
  virtual unsigned queue_count() const = 0;
  // Reads `len` bytes of config space at `offset` (transport locked).
  virtual void read_config(uint64_t offset, uint8_t* data, unsigned len) = 0;
  // The driver notified queue `q` (transport not locked).
  virtual void notify(unsigned q) = 0;
  // The driver reset the device (transport locked).
  virtual void reset() = 0;
};

class VirtioMmio : public Device {
 public:
  static constexpr uint64_t kWindow = 0x1000;

  VirtioMmio(std::string name, VirtioBackend& backend, Dma& dma, IrqEdge& irq);

  std::string_view name() const override { return name_; }
  void read(uint64_t offset, uint8_t* data, unsigned len) override;
  void write(uint64_t offset, const uint8_t* data, unsigned len) override;

  // --- for the backend, with the lock held ---
  std::mutex& mutex() { return mu_; }
  // True if queue `q` may be used: driver ready, no reset pending, queue ready.
  bool live(unsigned q) const;
  Virtqueue queue(unsigned q) { return Virtqueue(dma_, st_.queues[q]); }
  // Sets interrupt-status bits and interrupts the guest.
  void raise(uint32_t bits);
  // The driver broke the rules: NEEDS_RESET, one log line, config interrupt.
  void fail(const std::string& why);
  uint64_t malformed() const { return malformed_; }
  bool needs_reset() const { return st_.status & kNeedsResetBit; }
  uint32_t status() const { return st_.status; }

  // Checkpointing (lock held by the caller).
  MmioState save() const { return st_; }
  void restore(const MmioState& s) { st_ = s; }

 private:
  static constexpr uint32_t kNeedsResetBit = 64;
  uint32_t read_reg(uint64_t offset);
  // Returns the queue to notify, or -1.
  int write_reg(uint64_t offset, uint32_t value);
  void set_status(uint32_t value);
  QueueState* selected();

  std::string name_;
  VirtioBackend& backend_;
  Dma& dma_;
  IrqEdge& irq_;
  std::mutex mu_;
  MmioState st_;
  uint64_t malformed_ = 0;
};

}  // namespace hsls::virtio
