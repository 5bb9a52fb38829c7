// The I/O APIC (82093AA style, 24 pins, MMIO at 0xFEC00000): the ID,
// version and arbitration registers and the redirection table, reached
// through IOREGSEL (offset 0x00) and IOWIN (offset 0x10). Pin changes
// become interrupt messages to the local APICs through an InterruptSink.
//
// Choices where the datasheet leaves room or KVM differs:
// - set_irq() takes the logical level (asserted or not); the polarity bit
//   is stored and read back but not applied (as KVM's IOAPIC does).
// - Delivery is immediate: the delivery status bit is never set.
// - Reserved bits of a redirection entry read back as written (as KVM's
//   do); only delivery status and remote IRR are protected from writes.
// - An entry switched to edge-triggered loses its remote IRR.
// - restore() delivers nothing: a level line left pending re-delivers at
//   its next set_irq(), EOI or unmask.
#pragma once
#include <cstdint>

#include "vmm/platform/platform.h"
#include "vmm/platform/platform_state.h"

namespace hsls::platform {

class Ioapic {
 public:
  static constexpr uint64_t kBase = 0xfec00000;
  static constexpr uint32_t kVersion = 0x00170011;  // version 0x11, 24 entries
  static constexpr unsigned kPins = IoapicState::kPins;
  static constexpr uint32_t kIoregsel = 0x00, kIowin = 0x10;  // MMIO offsets
  static constexpr uint64_t kDeliveryStatus = 1u << 12, kRemoteIrr = 1u << 14;
  static constexpr uint64_t kLevel = 1u << 15, kMasked = 1u << 16;

  // An IOAPIC in its reset state (every entry masked); messages go to `sink`.
  explicit Ioapic(InterruptSink& sink);

  // A u32 read at `offset` in the MMIO window (IOREGSEL, IOWIN; others read 0).
  uint32_t read(uint32_t offset);
  // A u32 write at `offset` in the MMIO window (others are ignored).
  void write(uint32_t offset, uint32_t value);

  // Input pin `pin` (0-23) is now at `level` (others are ignored).
  void set_irq(unsigned pin, bool level);
  // A local APIC ended level-triggered `vector`: clears remote IRR of the
  // level entries with that vector, re-delivering those still asserted.
  void eoi(uint8_t vector);

  // Reset state: ID 0, every entry masked, all lines low.
  void reset();

  IoapicState save() const { return st_; }
  // Takes over `s`. Throws hsls::Error naming what is wrong (version, ID,
  // IOREGSEL, levels of pins that do not exist).
  void restore(const IoapicState& s);

 private:
  uint32_t read_reg(uint32_t index) const;
  void write_reg(uint32_t index, uint32_t value);
  void deliver_if_due(unsigned pin);

  InterruptSink& sink_;
  IoapicState st_;
};

}  // namespace hsls::platform
