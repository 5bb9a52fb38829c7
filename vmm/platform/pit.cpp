#include "vmm/platform/pit.h"

#include <string>
#include <utility>

#include "vmm/core/error.h"

namespace hsls::platform {

namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000;
constexpr uint8_t kCountLatched = 1, kStatusLatched = 2;  // PitState::latched bits

// A BCD count (four digits) as a number.
uint32_t from_bcd(uint16_t v) {
  return (v >> 12 & 0xf) * 1000 + (v >> 8 & 0xf) * 100 + (v >> 4 & 0xf) * 10 + (v & 0xf);
}

// A number below 10000 as a BCD count.
uint16_t to_bcd(uint32_t v) {
  return uint16_t((v / 1000 % 10) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10);
}

}  // namespace

// Power-on state, counting from now.
Pit::Pit(Clock clock) : clock_(std::move(clock)) { load_ns_ = clock_(); }

// The count's period in input clocks: the reload value, 0 standing for
// the counter's full range (65536, or 10000 in BCD).
uint32_t Pit::modulus() const {
  uint32_t n = st_.bcd ? from_bcd(st_.reload) : st_.reload;
  return n ? n : (st_.bcd ? 10000 : 65536);
}

// Input clocks since the count was loaded. Split in whole seconds and the
// rest so that the product cannot overflow.
uint64_t Pit::ticks() const {
  uint64_t ns = clock_() - load_ns_;
  return ns / kNsPerSecond * kHz + ns % kNsPerSecond * kHz / kNsPerSecond;
}

// The counting element now, in the counter's format (binary or BCD).
//   modes 0, 1, 4, 5: down from the reload value, wrapping through the full range;
//   mode 2: N, N-1, ..., 1, then N again;
//   mode 3: by twos, each half period; an odd N gives N, N-1, N-3, ..., 2 in
//   the first (longer) half and N, N-3, N-5, ..., 2 in the second.
uint16_t Pit::count() const {
  uint32_t n = modulus();
  uint32_t range = st_.bcd ? 10000 : 65536;
  uint64_t t = ticks();
  uint32_t c;
  switch (st_.mode) {
    case 2: c = n - uint32_t(t % n); break;
    case 3: {
      uint32_t u = uint32_t(t % n);
      uint32_t high = (n + 1) / 2;  // clocks with OUT high
      if (n % 2 == 0) c = n - 2 * (u % (n / 2));
      else if (u < high) c = u == 0 ? n : n + 1 - 2 * u;
      else c = u == high ? n : n - 1 - 2 * (u - high);
      break;
    }
    default: c = uint32_t((n + range - t % range) % range); break;
  }
  return st_.bcd ? to_bcd(c % 10000) : uint16_t(c);
}

// The OUT pin of channel 0 (shown only in the read-back status).
bool Pit::out() const {
  uint32_t n = modulus();
  uint64_t t = ticks();
  switch (st_.mode) {
    case 0: case 1: return t >= n;       // low until the count reaches 0
    case 2: return n < 2 || t % n != n - 1;  // low for the clock at count 1
    case 3: return t % n < (n + 1) / 2;  // high in the first half
    default: return t != n;              // 4, 5: a low strobe at count 0
  }
}

// The read-back status byte: OUT, null count (always 0 here), access, mode, BCD.
uint8_t Pit::status() const {
  return uint8_t(out() << 7 | st_.access << 4 | st_.mode << 1 | st_.bcd);
}

// Latches the count for reading, unless a latched count is still unread.
void Pit::latch_count() {
  if (st_.latched & kCountLatched) return;
  st_.latch = count();
  st_.latched |= kCountLatched;
}

// A control word at port 0x43: counter latch, read-back, or a new mode and
// access for channel 0. Channels 1 and 2 are not emulated.
void Pit::control(uint8_t v) {
  unsigned channel = v >> 6;
  if (channel == 3) {  // read-back: bit 5 = don't latch count, bit 4 = don't latch status
    if (!(v & 0x02)) return;  // not channel 0
    if (!(v & 0x20)) latch_count();
    if (!(v & 0x10)) st_.latched |= kStatusLatched;
    return;
  }
  if (channel != 0) return;
  unsigned access = v >> 4 & 3;
  if (access == 0) {
    latch_count();
    return;
  }
  unsigned mode = v >> 1 & 7;
  st_.mode = uint8_t(mode > 5 ? mode - 4 : mode);  // 6 and 7 are 2 and 3
  st_.access = uint8_t(access);
  st_.bcd = v & 1;
  st_.write_hi_next = st_.read_hi_next = 0;
  st_.latched = 0;
}

// A read of port 0x40 (a latched status first, then a latched count, else
// the live count, a byte at a time per the access mode) or of port 0x61.
uint8_t Pit::read(uint16_t port) {
  if (port == kPortB) {
    // Bit 4 toggles with each DRAM refresh request (about every 15 us);
    // bit 5 is channel 2's output, not emulated.
    bool refresh = clock_() / 15085 & 1;
    return uint8_t((st_.gate & 0x0f) | refresh << 4);
  }
  if (port != kChannel0) return 0xff;
  if (st_.latched & kStatusLatched) {
    st_.latched &= ~kStatusLatched;
    return status();  // as of the read, not the latch: the state has no byte for it
  }
  bool latched = st_.latched & kCountLatched;
  uint16_t value = latched ? st_.latch : count();
  bool hi;
  bool last;  // this read ends the (latched) value
  switch (st_.access) {
    case 1: hi = false; last = true; break;
    case 2: hi = true; last = true; break;
    default:
      hi = st_.read_hi_next;
      st_.read_hi_next = !hi;
      last = hi;
      break;
  }
  if (latched && last) st_.latched &= ~kCountLatched;
  return uint8_t(hi ? value >> 8 : value);
}

// A write of port 0x40 (count bytes per the access mode; the count loads,
// and counting restarts, when its last byte arrives), 0x43 or 0x61.
void Pit::write(uint16_t port, uint8_t value) {
  if (port == kPortB) {
    st_.gate = value & 0x0f;
    return;
  }
  if (port == kCommand) {
    control(value);
    return;
  }
  if (port != kChannel0) return;
  switch (st_.access) {
    case 1: st_.reload = value; break;
    case 2: st_.reload = uint16_t(value << 8); break;
    default:
      if (!st_.write_hi_next) {
        st_.write_lo = value;
        st_.write_hi_next = 1;
        return;
      }
      st_.reload = uint16_t(st_.write_lo | value << 8);
      st_.write_hi_next = 0;
      break;
  }
  load_ns_ = clock_();
}

// The state now: the time since the count's load, for restore() to re-base.
PitState Pit::save() const {
  PitState s = st_;
  s.elapsed_ns = clock_() - load_ns_;
  return s;
}

// Takes over a saved state after checking it.
void Pit::restore(const PitState& s) {
  if (s.version != PitState::kVersion)
    throw Error("pit: saved state version " + std::to_string(s.version) + ", expected " +
                std::to_string(PitState::kVersion));
  if (s.mode > 5) throw Error("pit: saved mode " + std::to_string(s.mode) + " (0-5)");
  if (s.access < 1 || s.access > 3) throw Error("pit: saved access mode " + std::to_string(s.access) + " (1-3)");
  if (s.bcd > 1 || s.write_hi_next > 1 || s.read_hi_next > 1)
    throw Error("pit: saved BCD/byte-order flags are not 0 or 1");
  if (s.latched > 3) throw Error("pit: saved latch flags " + std::to_string(s.latched) + " (0-3)");
  if (s.gate > 0x0f) throw Error("pit: saved port 0x61 bits " + std::to_string(s.gate) + " (0-15)");
  st_ = s;
  load_ns_ = clock_() - s.elapsed_ns;
}

}  // namespace hsls::platform
