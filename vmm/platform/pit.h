// The 8254 PIT as far as a PC guest reaches it through its ports: channel 0
// (port 0x40), the mode/command port (0x43, with the counter-latch and
// read-back commands for channel 0) and port 0x61 (channel 2 gate and
// speaker bits, the refresh toggle). The count follows from the injected
// clock at 1,193,182 Hz.
//
// Modes 0, 2, 3 and 4 count as on the chip (mode 3 by twos, with the
// chip's odd-count halves); modes 1 and 5, which wait for a gate edge that
// channel 0's tied-high gate never gives, count as if triggered at load
// (as KVM's PIT does). BCD counting is supported.
//
// Not wired: channel 0's output (IRQ 0) -- the guest does not use it, it
// only reads the count to calibrate the TSC; a caller wanting IRQ 0 would
// need an expiry query. Channels 1 and 2 are not emulated: control words
// for them are ignored, ports 0x41/0x42 are not owned, and port 0x61
// reads channel 2's output (bit 5) as 0.
//
// Choices: writing a count (re)starts counting at once (the chip waits for
// a clock edge, and in modes 2/3 for the current period's end; KVM also
// restarts at once); a control word keeps the counter running with the
// old count until a new one is written, and clears any latched count or
// status; null count always reads 0 in the status, and a latched status
// shows OUT as of its read rather than of the read-back command (PitState
// keeps only the fact that a status is latched).
#pragma once
#include <cstdint>

#include "vmm/platform/platform.h"
#include "vmm/platform/platform_state.h"

namespace hsls::platform {

class Pit {
 public:
  static constexpr uint64_t kHz = 1193182;
  static constexpr uint16_t kChannel0 = 0x40, kCommand = 0x43, kPortB = 0x61;

  // Channel 0 in its power-on state (mode 0, lo/hi access, count 65536)
  // counting from now.
  explicit Pit(Clock clock);

  // Whether `port` is one this device handles: 0x40, 0x43, 0x61.
  static bool owns(uint16_t port) { return port == kChannel0 || port == kCommand || port == kPortB; }

  // An inb: channel 0's count (latched or live) or status; port 0x61;
  // 0xff for the write-only command port and ports not owned.
  uint8_t read(uint16_t port);
  // An outb: a count byte for channel 0, a control word, or port 0x61.
  void write(uint16_t port, uint8_t value);

  PitState save() const;
  // Takes over `s`, re-basing the count on this clock. Throws hsls::Error
  // naming what is wrong (version, mode, access, flags, port 0x61 bits).
  void restore(const PitState& s);

 private:
  uint32_t modulus() const;
  uint64_t ticks() const;
  uint16_t count() const;
  bool out() const;
  uint8_t status() const;
  void control(uint8_t value);
  void latch_count();

  Clock clock_;
  PitState st_;
  uint64_t load_ns_ = 0;  // clock time of the count's load (st_.elapsed_ns is filled by save())
};

}  // namespace hsls::platform
