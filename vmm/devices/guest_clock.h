// The clock device (ports 0x5c0-0x5c7, docs/boot-protocol.md): the machine's
// clock in nanoseconds, which a deterministic machine makes virtual (guest
// work executed) and which the guest reads instead of rdtsc there (rdtsc
// runs on the host's clock under the software CPU). A 32-bit read at 0x5c0
// gives the low half, at 0x5c4 the high half; stateless: the guest reads
// high, low, high and retries if the highs differ. Writes are ignored.
#pragma once
#include <functional>

#include "vmm/devices/device.h"

namespace hsls {

class GuestClock : public Device {
 public:
  static constexpr uint16_t kPort = 0x5c0;
  static constexpr uint16_t kSize = 8;

  // `now_ns` is the machine's clock (accel::Vm::guest_time_ns).
  explicit GuestClock(std::function<uint64_t()> now_ns) : now_ns_(std::move(now_ns)) {}

  std::string_view name() const override { return "clock"; }
  void read(uint64_t offset, uint8_t* data, unsigned len) override;
  void write(uint64_t, const uint8_t*, unsigned) override {}

 private:
  std::function<uint64_t()> now_ns_;
};

}  // namespace hsls
