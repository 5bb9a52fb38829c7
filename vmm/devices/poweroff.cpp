#include "vmm/devices/poweroff.h"

#include <algorithm>

namespace hsls {

// Reads as all ones, like an absent ISA register.
void PowerOff::read(uint64_t, uint8_t* data, unsigned len) { std::fill(data, data + len, uint8_t(0xff)); }

// Only a write at the first byte counts; its low byte is the exit code.
void PowerOff::write(uint64_t offset, const uint8_t* data, unsigned) {
  if (offset == 0) on_poweroff_(data[0]);
}

}  // namespace hsls
