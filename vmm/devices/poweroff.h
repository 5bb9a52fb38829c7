// The power-off port (ISA debug-exit style, port 0xf4): a guest write ends
// the run, and the value written becomes vmm's exit status (value & 0xff).
#pragma once
#include <functional>

#include "vmm/devices/device.h"

namespace hsls {

class PowerOff : public Device {
 public:
  static constexpr uint16_t kPort = 0xf4;
  static constexpr uint16_t kSize = 4;

  // `on_poweroff` is called with the exit code from the vCPU thread.
  explicit PowerOff(std::function<void(int)> on_poweroff) : on_poweroff_(std::move(on_poweroff)) {}

  std::string_view name() const override { return "poweroff"; }
  void read(uint64_t, uint8_t* data, unsigned len) override;
  void write(uint64_t offset, const uint8_t* data, unsigned len) override;

 private:
  std::function<void(int)> on_poweroff_;
};

}  // namespace hsls
