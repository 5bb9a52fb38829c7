// Local APIC (xAPIC, MMIO at LAPIC_PHYS through the direct map).
#pragma once
#include "kernel/types.h"

class Lapic {
 public:
  // Enables this CPU's LAPIC: spurious vector, TPR 0, LINT0 and the error
  // LVT masked, LINT1 as NMI on the BSP (masked on APs).
  static void init(bool bsp);

  // This CPU's APIC ID.
  static unsigned id();

  // Signals end of interrupt.
  static void eoi() { write(EOI, 0); }

  // Starts the periodic timer on this CPU: `count` ticks of the divide-by-16 clock, vector VEC_TIMER.
  static void start_timer(u32 count);

  // Starts a masked one-shot countdown from 0xffffffff (divide by 16), for calibration.
  static void start_countdown();

  // Current count of the timer.
  static u32 timer_count() { return read(TIMER_CUR); }

  // Sends INIT to the CPU with APIC ID `apic_id`.
  static void send_init(unsigned apic_id);

  // Sends STARTUP with the real-mode start page `page` (physical address >> 12).
  static void send_sipi(unsigned apic_id, unsigned page);

  // Sends a fixed interrupt with `vector`.
  static void send_ipi(unsigned apic_id, unsigned vector);

 private:
  enum Reg : unsigned {
    ID = 0x20, TPR = 0x80, EOI = 0xb0, SVR = 0xf0, ESR = 0x280, ICR_LO = 0x300, ICR_HI = 0x310,
    LVT_TIMER = 0x320, LVT_LINT0 = 0x350, LVT_LINT1 = 0x360, LVT_ERROR = 0x370,
    TIMER_INIT = 0x380, TIMER_CUR = 0x390, TIMER_DIV = 0x3e0,
  };

  // Reads a LAPIC register.
  static u32 read(unsigned reg);

  // Writes a LAPIC register.
  static void write(unsigned reg, u32 v);

  // Writes the ICR (destination first) and waits, bounded, for delivery.
  static void send(unsigned apic_id, u32 icr_lo);
};
