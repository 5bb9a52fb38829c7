#include "vmm/devices/guest_clock.h"

#include <algorithm>
#include <cstring>

namespace hsls {

// The half of the clock at `offset` (0: low, 4: high); bytes of it for a
// narrower read; all ones past the two registers, like an absent register.
void GuestClock::read(uint64_t offset, uint8_t* data, unsigned len) {
  std::fill(data, data + len, uint8_t(0xff));
  if (offset >= kSize) return;
  uint64_t now = now_ns_();
  uint8_t bytes[8];
  std::memcpy(bytes, &now, 8);
  unsigned n = std::min<unsigned>(len, unsigned(kSize - offset));
  std::memcpy(data, bytes + offset, n);
}

}  // namespace hsls
