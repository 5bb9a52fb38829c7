#include "vmm/platform/lapic.h"

#include <bit>
#include <cstring>
#include <string>
#include <utility>

#include "vmm/core/error.h"

namespace hsls::platform {

namespace {

// Bits software can set in each register (the others are reserved or read-only).
constexpr uint32_t kTprBits = 0xff;
constexpr uint32_t kLdrBits = 0xff000000;
constexpr uint32_t kDfrFixed = 0x0fffffff;     // DFR bits 0-27 always read 1
constexpr uint32_t kSvrBits = 0x3ff;           // vector, enable, focus check
constexpr uint32_t kIcrLowBits = 0x000ccfff;   // all but delivery status and reserved
constexpr uint32_t kIcrHighBits = 0xff000000;
constexpr uint32_t kEsrBits = 0xff;
constexpr uint32_t kDivideBits = 0xb;
constexpr uint32_t kLvtTimerBits = 0x300ff;    // vector, mask, periodic (no TSC-deadline)
constexpr uint32_t kLvtNmiBits = 0x107ff;      // thermal, perf: vector, delivery mode, mask
constexpr uint32_t kLvtLintBits = 0x1a7ff;     // + polarity, trigger mode (remote IRR is read-only)
constexpr uint32_t kLvtErrorBits = 0x100ff;    // vector, mask

// Each LVT register with its writable bits.
constexpr std::pair<uint32_t, uint32_t> kLvts[] = {
    {Lapic::kLvtTimer, kLvtTimerBits}, {Lapic::kLvtThermal, kLvtNmiBits}, {Lapic::kLvtPerf, kLvtNmiBits},
    {Lapic::kLvtLint0, kLvtLintBits},  {Lapic::kLvtLint1, kLvtLintBits},  {Lapic::kLvtError, kLvtErrorBits},
};

// The writable bits of LVT register `offset`; 0 if it is not an LVT.
uint32_t lvt_bits(uint32_t offset) {
  for (auto [off, bits] : kLvts)
    if (off == offset) return bits;
  return 0;
}

// The u32 at byte `offset` of a register page.
uint32_t page_reg(const uint8_t* regs, uint32_t offset) {
  uint32_t v;
  std::memcpy(&v, regs + offset, sizeof v);
  return v;
}

// The divisor that a divide configuration value selects: bits 0, 1 and 3
// form a 3-bit code; 0-6 divide by 2^(code+1), 7 divides by 1.
uint32_t divisor_of(uint32_t divide_config) {
  uint32_t code = (divide_config & 3) | ((divide_config >> 1) & 4);
  return 1u << ((code + 1) & 7);
}

}  // namespace

// An APIC in its power-on state.
Lapic::Lapic(unsigned apic_id, ApicBus& bus, Clock clock) : apic_id_(apic_id), bus_(bus), clock_(std::move(clock)) {
  reset();
}

// The register at `offset` as stored in the page.
uint32_t Lapic::reg(uint32_t offset) const { return page_reg(st_.regs, offset); }

// Stores the register at `offset` in the page.
void Lapic::set_reg(uint32_t offset, uint32_t value) { std::memcpy(st_.regs + offset, &value, sizeof value); }

// Bit `vector` of the 256-bit register (ISR, TMR, IRR) starting at `base`:
// eight u32s, 16 bytes apart.
bool Lapic::bit(uint32_t base, unsigned vector) const {
  return (reg(base + (vector / 32) * 16) >> (vector % 32)) & 1;
}

// Sets or clears bit `vector` of the 256-bit register at `base`.
void Lapic::set_bit(uint32_t base, unsigned vector, bool on) {
  uint32_t off = base + (vector / 32) * 16;
  uint32_t mask = 1u << (vector % 32);
  set_reg(off, on ? reg(off) | mask : reg(off) & ~mask);
}

// The highest vector set in the 256-bit register at `base`; -1 if none.
int Lapic::highest(uint32_t base) const {
  for (int i = 7; i >= 0; --i) {
    uint32_t w = reg(base + unsigned(i) * 16);
    if (w) return i * 32 + 31 - std::countl_zero(w);
  }
  return -1;
}

// PPR follows from TPR and the highest vector in service: the higher of the
// two priority classes; TPR's sub-class only when TPR's class wins (we take
// TPR on a tie, one of the two choices the SDM allows).
void Lapic::update_ppr() {
  uint32_t tpr = reg(kTpr) & 0xff;
  int isrv = highest(kIsr);
  uint32_t isr_class = isrv < 0 ? 0 : uint32_t(isrv) & 0xf0;
  set_reg(kPpr, (tpr & 0xf0) >= isr_class ? tpr : isr_class);
}

// The SVR's software enable bit.
bool Lapic::software_enabled() const { return reg(kSvr) & kSvrEnable; }

// Nanoseconds per timer count (the bus runs at 1 tick per ns).
uint32_t Lapic::divisor() const { return divisor_of(reg(kTimerDivide)); }

// Nanoseconds from the initial count to 0.
uint64_t Lapic::period_ns() const { return uint64_t(reg(kTimerInitial)) * divisor(); }

// Nanoseconds until the count reaches 0 at clock time `now`. A periodic
// timer whose expiry has not been fired yet has already reloaded; a
// one-shot one stays at 0.
uint64_t Lapic::remaining_ns(uint64_t now) const {
  if (deadline_ == UINT64_MAX) return 0;
  if (now < deadline_) return deadline_ - now;
  if (!(reg(kLvtTimer) & kTimerPeriodic)) return 0;
  uint64_t p = period_ns();
  return p - (now - deadline_) % p;
}

// A write to the initial count (re)starts the timer from it; 0 stops it.
void Lapic::start_timer() {
  uint64_t p = period_ns();
  deadline_ = p ? clock_() + p : UINT64_MAX;
}

// A new divisor while the timer runs keeps the current count and counts on
// at the new rate (the remaining time scales, as KVM does). An expiry that
// is due but not fired yet stays due.
void Lapic::set_divide(uint32_t value) {
  uint32_t old_div = divisor();
  set_reg(kTimerDivide, value & kDivideBits);
  uint64_t now = clock_();
  if (deadline_ == UINT64_MAX || now >= deadline_) return;
  deadline_ = now + (deadline_ - now) * divisor() / old_div;
}

// Records an APIC error (ESR bit) for the next ESR write to show, and
// raises the error LVT's interrupt unless it is masked. An illegal vector
// in the error LVT itself is not raised (it would be another error).
void Lapic::error(uint32_t esr_bit) {
  st_.esr_pending |= esr_bit;
  uint32_t lvt = reg(kLvtError);
  if (!(lvt & kLvtMasked) && (lvt & 0xff) >= 16) accept(uint8_t(lvt & 0xff), false);
}

// EOI: the highest vector in service is done. A level-triggered one (TMR
// set when it was accepted) also ends at the IOAPIC, through the bus.
void Lapic::write_eoi() {
  int v = highest(kIsr);
  if (v < 0) return;
  set_bit(kIsr, unsigned(v), false);
  update_ppr();
  if (bit(kTmr, unsigned(v))) bus_.eoi_level(uint8_t(v));
}

// A write to ICR low sends the IPI it describes (destination from ICR
// high). Delivery is immediate, so the delivery status bit always reads
// idle. Reserved delivery modes send nothing; a fixed or lowest-priority
// IPI with a vector below 16 is the "send illegal vector" error instead.
void Lapic::write_icr(uint32_t low) {
  low &= kIcrLowBits;
  set_reg(kIcrLow, low);
  Ipi ipi{};
  switch ((low >> 8) & 7) {
    case 0: ipi.mode = Ipi::Mode::fixed; break;
    case 1: ipi.mode = Ipi::Mode::lowest; break;
    case 2: ipi.mode = Ipi::Mode::smi; break;
    case 4: ipi.mode = Ipi::Mode::nmi; break;
    case 5: ipi.mode = Ipi::Mode::init; break;
    case 6: ipi.mode = Ipi::Mode::sipi; break;
    default: return;
  }
  ipi.vector = uint8_t(low & 0xff);
  if ((ipi.mode == Ipi::Mode::fixed || ipi.mode == Ipi::Mode::lowest) && ipi.vector < 16) {
    error(kEsrSendIllegal);
    return;
  }
  ipi.dest = uint8_t(reg(kIcrHigh) >> 24);
  ipi.shorthand = Ipi::Shorthand((low >> 18) & 3);
  ipi.logical = low & (1u << 11);
  ipi.level_assert = low & (1u << 14);
  bus_.send_ipi(apic_id_, ipi);  // last: the bus may call back into accept()
}

// A register read. The current count is computed from the clock; EOI is
// write-only; reserved offsets and the unused parts of each 16-byte slot read 0.
uint32_t Lapic::read(uint32_t offset) {
  if (offset > 0x3f0 || (offset & 0xf)) return 0;
  if (offset >= kIsr && offset < kEsr) return reg(offset);  // ISR, TMR, IRR
  switch (offset) {
    case kTimerCurrent: return uint32_t(remaining_ns(clock_()) / divisor());
    case kId: case kVer: case kTpr: case kPpr: case kLdr: case kDfr: case kSvr: case kEsr:
    case kIcrLow: case kIcrHigh: case kLvtTimer: case kLvtThermal: case kLvtPerf: case kLvtLint0:
    case kLvtLint1: case kLvtError: case kTimerInitial: case kTimerDivide:
      return reg(offset);
    default: return 0;  // EOI, APR, RRD, reserved
  }
}

// A register write. The ID is read-only here: the bus routes by the ID the
// APIC was made with. While software-disabled, LVT writes keep the mask set.
void Lapic::write(uint32_t offset, uint32_t value) {
  if (offset > 0x3f0 || (offset & 0xf)) return;
  if (uint32_t bits = lvt_bits(offset)) {
    value &= bits;
    if (!software_enabled()) value |= kLvtMasked;
    set_reg(offset, value);
    return;
  }
  switch (offset) {
    case kTpr: set_reg(kTpr, value & kTprBits); update_ppr(); break;
    case kEoi: write_eoi(); break;
    case kLdr: set_reg(kLdr, value & kLdrBits); break;
    case kDfr: set_reg(kDfr, value | kDfrFixed); break;
    case kSvr:
      set_reg(kSvr, value & kSvrBits);
      // Software disable masks every LVT; enabling again leaves them masked.
      if (!software_enabled())
        for (auto [off, bits] : kLvts) set_reg(off, reg(off) | kLvtMasked);
      break;
    case kEsr:
      // Write-then-read: the write makes the errors since the last write readable.
      set_reg(kEsr, st_.esr_pending & kEsrBits);
      st_.esr_pending = 0;
      break;
    case kIcrLow: write_icr(value); break;
    case kIcrHigh: set_reg(kIcrHigh, value & kIcrHighBits); break;
    case kTimerInitial: set_reg(kTimerInitial, value); start_timer(); break;
    case kTimerDivide: set_divide(value); break;
    default: break;  // read-only or reserved
  }
}

// Latches a fixed interrupt into IRR, its trigger mode into TMR.
void Lapic::accept(uint8_t vector, bool level) {
  if (vector < 16) {
    error(kEsrReceiveIllegal);
    return;
  }
  // A software-disabled APIC keeps what IRR/ISR hold but takes nothing new
  // (Linux relies on this when it takes a CPU offline; KVM does the same).
  if (!software_enabled()) return;
  set_bit(kIrr, vector, true);
  set_bit(kTmr, vector, level);
}

// The highest requested vector, if its priority class is above PPR's.
int Lapic::pending() const {
  int v = highest(kIrr);
  if (v < 0) return -1;
  return (uint32_t(v) >> 4) > (reg(kPpr) >> 4 & 0xf) ? v : -1;
}

// The CPU took `vector`: it moves from IRR to ISR, raising PPR.
void Lapic::acknowledge(uint8_t vector) {
  if (!bit(kIrr, vector)) return;
  set_bit(kIrr, vector, false);
  set_bit(kIsr, vector, true);
  update_ppr();
}

// Fires an expired timer: the LVT timer vector unless masked (the timer is
// always edge-triggered). A periodic timer re-arms from its previous
// deadline, keeping its phase; periods missed entirely (the caller was late)
// are dropped, so a long gap gives one interrupt, not a burst.
void Lapic::tick() {
  uint64_t now = clock_();
  if (deadline_ == UINT64_MAX || now < deadline_) return;
  uint32_t lvt = reg(kLvtTimer);
  if (lvt & kTimerPeriodic) {
    uint64_t p = period_ns();
    deadline_ += p;
    if (deadline_ <= now) deadline_ += ((now - deadline_) / p + 1) * p;
  } else {
    deadline_ = UINT64_MAX;
  }
  if (!(lvt & kLvtMasked)) accept(uint8_t(lvt & 0xff), false);
}

// Power-on / INIT state (SDM: everything 0 except DFR all ones, SVR 0xff,
// LVTs masked); the ID is the one the APIC was made with.
void Lapic::reset() {
  st_ = LapicState{};
  set_reg(kId, uint32_t(apic_id_) << 24);
  set_reg(kVer, kVersion);
  set_reg(kDfr, 0xffffffff);
  set_reg(kSvr, 0xff);
  for (auto [off, bits] : kLvts) set_reg(off, kLvtMasked);
  deadline_ = UINT64_MAX;
}

// The state now, with the current count filled into the page (as KVM's
// KVM_GET_LAPIC does) and the time left until the count reaches 0.
LapicState Lapic::save() const {
  LapicState s = st_;
  uint64_t now = clock_();
  uint32_t count = uint32_t(remaining_ns(now) / divisor());
  std::memcpy(s.regs + kTimerCurrent, &count, sizeof count);
  if (deadline_ == UINT64_MAX) s.timer_remaining_ns = 0;
  else s.timer_remaining_ns = now < deadline_ ? deadline_ - now : 1;  // due, not fired: fire after restore
  return s;
}

// Takes over a saved state: validates all of it first, then rebuilds the
// page register by register through the write masks, recomputes PPR and
// re-bases the timer on this clock.
void Lapic::restore(const LapicState& s) {
  std::string who = "lapic " + std::to_string(apic_id_) + ": ";
  if (s.version != LapicState::kVersion)
    throw Error(who + "saved state version " + std::to_string(s.version) + ", expected " +
                std::to_string(LapicState::kVersion));
  uint32_t id = page_reg(s.regs, kId) >> 24;
  if (id != apic_id_) throw Error(who + "saved state is of APIC ID " + std::to_string(id));
  uint32_t timer_mode = (page_reg(s.regs, kLvtTimer) >> 17) & 3;
  if (timer_mode == 2) throw Error(who + "saved timer is in TSC-deadline mode, which is not offered");
  if (timer_mode == 3) throw Error(who + "saved timer mode 3 is reserved");
  uint64_t period = uint64_t(page_reg(s.regs, kTimerInitial)) * divisor_of(page_reg(s.regs, kTimerDivide));
  if (s.timer_remaining_ns > period)
    throw Error(who + "saved timer has " + std::to_string(s.timer_remaining_ns) + " ns left of a " +
                std::to_string(period) + " ns period");

  reset();
  auto copy = [&](uint32_t off, uint32_t bits) { set_reg(off, page_reg(s.regs, off) & bits); };
  copy(kTpr, kTprBits);
  copy(kLdr, kLdrBits);
  set_reg(kDfr, page_reg(s.regs, kDfr) | kDfrFixed);
  copy(kSvr, kSvrBits);
  for (uint32_t off = kIsr; off < kEsr; off += 16) copy(off, off % 0x80 == 0 ? 0xffff0000 : 0xffffffff);
  copy(kEsr, kEsrBits);
  st_.esr_pending = s.esr_pending & kEsrBits;
  copy(kIcrLow, kIcrLowBits);
  copy(kIcrHigh, kIcrHighBits);
  for (auto [off, bits] : kLvts) set_reg(off, (page_reg(s.regs, off) & bits) | (software_enabled() ? 0 : kLvtMasked));
  copy(kTimerInitial, 0xffffffff);
  copy(kTimerDivide, kDivideBits);
  update_ppr();
  deadline_ = s.timer_remaining_ns ? clock_() + s.timer_remaining_ns : UINT64_MAX;
}

}  // namespace hsls::platform
