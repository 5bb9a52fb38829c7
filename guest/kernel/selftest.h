// Kernel self-tests (command-line key `selftest`).
#pragma once

class Selftest {
 public:
  // Runs every test, prints each failure with its reason, then
  // "selftest: N passed, M failed", and powers off with 0 if M == 0, else 1.
  [[noreturn]] static void run();
};
