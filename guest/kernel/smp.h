// Multiprocessor support: starting the APs and running functions on other CPUs.
#pragma once
#include "kernel/types.h"

class Smp {
 public:
  // Starts CPUs 1..want-1 (INIT, STARTUP to the trampoline at TRAMP_BASE,
  // a second STARTUP to CPUs that have not arrived), waits for them with a
  // timeout and reports every CPU that did not come up. BSP, interrupts on.
  static void boot_aps(unsigned want);

  // Number of CPUs running (the BSP included).
  static unsigned online() { return __atomic_load_n(&online_, __ATOMIC_ACQUIRE); }

  // Asks CPU `cpu` to run fn(arg) (with interrupts off) from its call IPI;
  // returns false if that CPU is offline or still has a call pending. Pair with wait().
  static bool post(unsigned cpu, void (*fn)(void*), void* arg);

  // Waits (halting between timer ticks) until CPU `cpu` has run the function
  // posted to it; returns false on timeout.
  static bool wait(unsigned cpu, u64 timeout_us);

  // post() + wait().
  static bool call(unsigned cpu, void (*fn)(void*), void* arg, u64 timeout_us);

  // Runs the function posted to this CPU, if any (from the call IPI).
  static void handle_call();

  // Called by each AP once it is fully set up.
  static void ap_arrived();

 private:
  static u32 online_;
};

// Halts with interrupts on until `done()` is true or `timeout_us` passed;
// returns done(). Wakes at least once per timer tick.
bool wait_until(bool (*done)(void*), void* arg, u64 timeout_us);

// Runs forever with interrupts on, halting between interrupts.
[[noreturn]] void idle();
