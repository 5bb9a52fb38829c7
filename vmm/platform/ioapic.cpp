#include "vmm/platform/ioapic.h"

#include <string>

#include "vmm/core/error.h"

namespace hsls::platform {

namespace {

constexpr uint32_t kIdBits = 0x0f000000;  // 4-bit ID in bits 24-27
// In a redirection entry, the bits the IOAPIC owns.
constexpr uint64_t kReadOnly = Ioapic::kDeliveryStatus | Ioapic::kRemoteIrr;

}  // namespace

// An IOAPIC in its reset state.
Ioapic::Ioapic(InterruptSink& sink) : sink_(sink) { reset(); }

// Reset: ID 0, IOREGSEL 0, every entry masked, all lines low.
void Ioapic::reset() {
  st_ = IoapicState{};
  for (auto& e : st_.redir) e = kMasked;
}

// The register at `index` behind IOWIN: 0 ID, 1 version, 2 arbitration
// (the ID, which is what an APIC-bus arbitration ID is loaded with),
// 0x10-0x3f the redirection table, low word at even indices. Others read 0.
uint32_t Ioapic::read_reg(uint32_t index) const {
  if (index == 0) return st_.id;
  if (index == 1) return kVersion;
  if (index == 2) return st_.id;
  if (index >= 0x10 && index < 0x10 + 2 * kPins) {
    uint64_t e = st_.redir[(index - 0x10) / 2];
    return uint32_t(index & 1 ? e >> 32 : e);
  }
  return 0;
}

// A write behind IOWIN. Redirection entries keep their read-only bits; a
// write of the low word may unmask (or re-arm) a level line that is
// asserted, which then delivers.
void Ioapic::write_reg(uint32_t index, uint32_t value) {
  if (index == 0) {
    st_.id = value & kIdBits;
    return;
  }
  if (index < 0x10 || index >= 0x10 + 2 * kPins) return;  // read-only or absent
  unsigned pin = (index - 0x10) / 2;
  uint64_t& e = st_.redir[pin];
  if (index & 1) {
    e = (e & 0xffffffffull) | uint64_t(value) << 32;
    return;
  }
  uint64_t keep = e & kReadOnly;
  e = (e & ~0xffffffffull) | (value & ~kReadOnly) | keep;
  if (!(e & kLevel)) e &= ~kRemoteIrr;  // remote IRR means nothing for edge entries
  deliver_if_due(pin);
}

// MMIO read: IOREGSEL or the register it selects.
uint32_t Ioapic::read(uint32_t offset) {
  if (offset == kIoregsel) return st_.ioregsel;
  if (offset == kIowin) return read_reg(st_.ioregsel);
  return 0;
}

// MMIO write: IOREGSEL (8 bits) or the register it selects.
void Ioapic::write(uint32_t offset, uint32_t value) {
  if (offset == kIoregsel) st_.ioregsel = value & 0xff;
  else if (offset == kIowin) write_reg(st_.ioregsel, value);
}

// A level entry whose line is asserted, unmasked and not already being
// serviced (remote IRR clear) delivers, and is then serviced until EOI.
void Ioapic::deliver_if_due(unsigned pin) {
  uint64_t& e = st_.redir[pin];
  if (!(e & kLevel) || (e & (kMasked | kRemoteIrr)) || !(st_.irr >> pin & 1)) return;
  e |= kRemoteIrr;  // before delivering: the sink may EOI at once
  sink_.deliver(uint8_t(e >> 56), e & (1u << 11), uint8_t(e), true, uint8_t(e >> 8 & 7));
}

// A pin changes level. Edge entries deliver on a rising edge (lost while
// masked, as on the chip); level entries deliver while asserted.
void Ioapic::set_irq(unsigned pin, bool level) {
  if (pin >= kPins) return;
  bool was = st_.irr >> pin & 1;
  st_.irr = level ? st_.irr | 1u << pin : st_.irr & ~(1u << pin);
  uint64_t e = st_.redir[pin];
  if (e & kLevel) {
    deliver_if_due(pin);
  } else if (level && !was && !(e & kMasked)) {
    sink_.deliver(uint8_t(e >> 56), e & (1u << 11), uint8_t(e), false, uint8_t(e >> 8 & 7));
  }
}

// EOI broadcast from a local APIC for a level-triggered `vector`.
void Ioapic::eoi(uint8_t vector) {
  for (unsigned pin = 0; pin < kPins; ++pin) {
    uint64_t& e = st_.redir[pin];
    if (!(e & kLevel) || !(e & kRemoteIrr) || uint8_t(e) != vector) continue;
    e &= ~kRemoteIrr;
    deliver_if_due(pin);
  }
}

// Takes over a saved state after checking it.
void Ioapic::restore(const IoapicState& s) {
  if (s.version != IoapicState::kVersion)
    throw Error("ioapic: saved state version " + std::to_string(s.version) + ", expected " +
                std::to_string(IoapicState::kVersion));
  if (s.id & ~kIdBits) throw Error("ioapic: saved ID register " + std::to_string(s.id) + " has reserved bits set");
  if (s.ioregsel > 0xff) throw Error("ioapic: saved IOREGSEL " + std::to_string(s.ioregsel) + " is not 8-bit");
  if (s.irr >> kPins) throw Error("ioapic: saved line levels name pins above " + std::to_string(kPins - 1));
  st_ = s;
}

}  // namespace hsls::platform
