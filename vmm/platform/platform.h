// What the software platform devices (LAPIC, IOAPIC, 8259 pair, PIT) need
// from the machine around them: a clock, and the buses their interrupt
// messages travel on. With KVM the kernel emulates these devices; on the
// software CPU the VMM does, with these classes.
//
// The devices are not thread-safe: the caller serialises every call to a
// device, including the calls a device makes back into the machine through
// these interfaces (a bus may call straight back into the sending device,
// e.g. a self-IPI ends in Lapic::accept()).
#pragma once
#include <cstdint>
#include <functional>

namespace hsls::platform {

// Monotonic time in nanoseconds. Injected so that tests use a fake clock
// and a deterministic mode can run the devices on virtual time.
using Clock = std::function<uint64_t()>;

// An inter-processor interrupt as the ICR describes it.
struct Ipi {
  enum class Mode : uint8_t { fixed, lowest, smi, nmi, init, sipi };
  Mode mode;
  uint8_t vector;  // the vector (fixed, lowest) or the start page (sipi)
  uint8_t dest;    // ICR bits 56-63: an APIC ID, or a logical destination
  enum class Shorthand : uint8_t { none, self, all_including_self, all_excluding_self } shorthand;
  bool logical;       // `dest` is a logical destination (matched against LDR/DFR)
  bool level_assert;  // ICR bit 14: 0 only for the INIT level de-assert message
};

// The APIC bus as the local APICs see it.
class ApicBus {
 public:
  virtual ~ApicBus() = default;
  // Delivers an IPI that the APIC `from_apic` sent through its ICR.
  virtual void send_ipi(unsigned from_apic, const Ipi& ipi) = 0;
  // A local APIC ended a level-triggered interrupt: tells the IOAPIC.
  virtual void eoi_level(uint8_t vector) = 0;
};

// Where the IOAPIC sends its interrupt messages.
class InterruptSink {
 public:
  virtual ~InterruptSink() = default;
  // IOAPIC delivery: a message to an APIC (physical or logical destination).
  virtual void deliver(uint8_t dest, bool logical, uint8_t vector, bool level, uint8_t delivery_mode) = 0;
};

}  // namespace hsls::platform
