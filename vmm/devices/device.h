// The one interface every device implements (kvmtool style): it owns an
// address range on the port-I/O or MMIO bus and answers reads and writes
// at offsets inside it. Calls come from vCPU threads; a device that is also
// touched from other threads locks itself.
#pragma once
#include <cstdint>
#include <string_view>

namespace hsls {

class Device {
 public:
  virtual ~Device() = default;
  // Short name for logs and reports ("serial", "poweroff", ...).
  virtual std::string_view name() const = 0;
  // A guest read of `len` bytes (1, 2, 4 or 8) at `offset` in the range.
  virtual void read(uint64_t offset, uint8_t* data, unsigned len) = 0;
  // A guest write of `len` bytes at `offset` in the range.
  virtual void write(uint64_t offset, const uint8_t* data, unsigned len) = 0;
};

// An edge-triggered interrupt: each trigger() is one interrupt (irqfd).
class IrqEdge {
 public:
  virtual ~IrqEdge() = default;
  virtual void trigger() = 0;
};

// Whatever a device uses to raise its interrupt line.
class IrqLine {
 public:
  virtual ~IrqLine() = default;
  virtual void set_level(bool high) = 0;
};

}  // namespace hsls
