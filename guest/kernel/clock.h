// Time keeping: LAPIC timer and TSC rates, measured once against the PIT.
//
// Clock::calibrate() runs PIT channel 0 for 10 ms while the BSP's LAPIC timer
// counts down (divide by 16) and reads the TSC before and after. If the PIT
// does not count (no PIT) or the result is implausible, it falls back to a
// fixed estimate of 1 GHz for both, which is KVM's and QEMU's LAPIC timer
// frequency. All CPUs then tick at TICK_HZ with that period.
//
// On a deterministic machine (CPUID 0x40000001 EAX bit 0: VIRTUAL_CLOCK,
// docs/boot-protocol.md) time is virtual and rdtsc runs on the host's clock:
// the kernel reads time from the VMM's clock device (1 GHz), sets CR4.TSD so
// that user rdtsc/rdtscp fault, and answers them from the same clock.
#pragma once
#include "kernel/types.h"

class Clock {
 public:
  static constexpr unsigned TICK_HZ = 100;

  // Measures the LAPIC timer and TSC frequencies (BSP, interrupts off).
  static void calibrate();

  // Per CPU (BSP after calibrate(), each AP): CR4.TSD on a virtual clock.
  static void setup_cpu();

  // True on a deterministic machine: time comes from the clock device.
  static bool is_virtual() { return virtual_; }

  // The time stamp: rdtsc, or the clock device's nanoseconds.
  static u64 now();

  // A user #GP at rdtsc/rdtscp on a virtual clock: answers it and steps
  // over the instruction. False if the fault is something else.
  static bool emulate_user_tsc(struct Frame* f);

  // LAPIC timer input frequency (before the divider), in Hz.
  static u64 lapic_hz() { return lapic_hz_; }

  // TSC frequency in Hz.
  static u64 tsc_hz() { return tsc_per_us_ * 1000000; }

  // True if calibrate() measured against the PIT, false if it used the fallback.
  static bool measured() { return measured_; }

  // LAPIC timer initial count for one tick (divide by 16).
  static u32 tick_count() { return u32(lapic_hz_ / 16 / TICK_HZ); }

  // TSC value `us` microseconds from now.
  static u64 deadline(u64 us);

  // True once the TSC has reached `deadline`.
  static bool passed(u64 deadline);

  // Busy-waits `us` microseconds.
  static void spin_us(u64 us);

 private:
  static u64 lapic_hz_;
  static u64 tsc_per_us_;
  static bool measured_;
  static bool virtual_;
};
