// A local APIC in xAPIC mode (MMIO page at 0xFEE00000), for the software
// CPU: registers, interrupt acceptance and priority, EOI, IPIs through the
// ICR, and the timer (one-shot and periodic; TSC-deadline mode is not
// offered). Its whole state is a LapicState: the register page in the
// xAPIC layout plus the timer position.
//
// The APIC bus runs at 1 tick per nanosecond (as KVM's does): the timer
// counts down once every `divisor` nanoseconds of the injected clock.
//
// Not modelled: the global enable (IA32_APIC_BASE, the CPU's business),
// x2APIC, LINT0/LINT1 inputs, thermal/performance interrupts, the
// "illegal register address" error, arbitration priority (reads 0).
#pragma once
#include <cstdint>

#include "vmm/platform/platform.h"
#include "vmm/platform/platform_state.h"

namespace hsls::platform {

class Lapic {
 public:
  static constexpr uint64_t kBase = 0xfee00000;
  static constexpr uint32_t kVersion = 0x00050014;  // integrated APIC, 6 LVT entries

  // Register offsets in the MMIO page (each register is the u32 at its offset).
  enum Reg : uint32_t {
    kId = 0x020, kVer = 0x030, kTpr = 0x080, kApr = 0x090, kPpr = 0x0a0, kEoi = 0x0b0,
    kRrd = 0x0c0, kLdr = 0x0d0, kDfr = 0x0e0, kSvr = 0x0f0, kIsr = 0x100, kTmr = 0x180,
    kIrr = 0x200, kEsr = 0x280, kIcrLow = 0x300, kIcrHigh = 0x310, kLvtTimer = 0x320,
    kLvtThermal = 0x330, kLvtPerf = 0x340, kLvtLint0 = 0x350, kLvtLint1 = 0x360,
    kLvtError = 0x370, kTimerInitial = 0x380, kTimerCurrent = 0x390, kTimerDivide = 0x3e0,
  };
  static constexpr uint32_t kLvtMasked = 1u << 16;
  static constexpr uint32_t kTimerPeriodic = 1u << 17;
  static constexpr uint32_t kSvrEnable = 1u << 8;
  static constexpr uint32_t kEsrSendIllegal = 1u << 5;
  static constexpr uint32_t kEsrReceiveIllegal = 1u << 6;

  // An APIC in its power-on state with ID `apic_id`; IPIs go to `bus`.
  Lapic(unsigned apic_id, ApicBus& bus, Clock clock);

  unsigned apic_id() const { return apic_id_; }

  // A u32 read of the register at `offset` in the page (reserved: 0).
  uint32_t read(uint32_t offset);
  // A u32 write of the register at `offset` (read-only and reserved: ignored).
  void write(uint32_t offset, uint32_t value);

  // A fixed interrupt arrives (IPI, IOAPIC, or a local source): latches it in
  // IRR, with its trigger mode in TMR. Vectors 0-15 are refused with the
  // "received illegal vector" error. While the APIC is software-disabled
  // nothing new is latched (what is already in IRR/ISR stays).
  void accept(uint8_t vector, bool level);
  // The vector the CPU should take next: the highest in IRR whose priority
  // class is above PPR's; -1 if none.
  int pending() const;
  // The CPU took `vector` (from pending()): IRR -> ISR. Ignored if not in IRR.
  void acknowledge(uint8_t vector);

  // Absolute clock time (ns) of the timer's next expiry; UINT64_MAX if none.
  uint64_t timer_deadline() const { return deadline_; }
  // Fires the timer if it has expired: at most one interrupt per call.
  void tick();

  // Power-on / INIT state (the APIC ID is kept).
  void reset();

  // The state now; a timer that expired but has not fired (no tick() yet)
  // is saved as 1 ns from expiry, so it fires after a restore.
  LapicState save() const;
  // Takes over `s`, re-basing the timer on this APIC's clock. Throws
  // hsls::Error naming what is wrong: version, APIC ID, timer mode, timer
  // position; reserved and read-only bits are re-derived, not refused.
  void restore(const LapicState& s);

 private:
  uint32_t reg(uint32_t offset) const;
  void set_reg(uint32_t offset, uint32_t value);
  bool bit(uint32_t base, unsigned vector) const;
  void set_bit(uint32_t base, unsigned vector, bool on);
  int highest(uint32_t base) const;
  void update_ppr();
  bool software_enabled() const;
  uint32_t divisor() const;
  uint64_t period_ns() const;
  uint64_t remaining_ns(uint64_t now) const;
  void start_timer();
  void set_divide(uint32_t value);
  void error(uint32_t esr_bit);
  void write_eoi();
  void write_icr(uint32_t low);

  unsigned apic_id_;
  ApicBus& bus_;
  Clock clock_;
  LapicState st_;
  // Clock time when the count reaches 0 (UINT64_MAX: timer stopped); in
  // periodic mode, the end of the current period. st_.timer_remaining_ns
  // is only filled in by save().
  uint64_t deadline_ = UINT64_MAX;
};

}  // namespace hsls::platform
