// Kernel self-tests (command-line key `selftest`).
//
// run_kernel() runs the in-kernel tests (boot layer, page allocator, paging,
// SMP, the capability derivation tree, object lifetimes) and returns; the
// kernel then starts init in selftest mode, which runs the user-mode tests
// (`utest`: IPC, notifications, scheduling across CPUs, a faulting program
// killed while others continue) and reports with sys::TEST_DONE; finish()
// prints "selftest: N passed, M failed" and powers off with 0 if M == 0, else 1.
#pragma once

class Selftest {
 public:
  static void run_kernel();

  // Adds init's counts, prints the verdict and powers off.
  [[noreturn]] static void finish(unsigned passed, unsigned failed);

  // Timer hook (CPU 0): fails the run if the user-mode tests take too long.
  static void watchdog();
};
