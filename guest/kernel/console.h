// Kernel console: formatted lines to the serial port, one CPU at a time.
#pragma once
#include <stdarg.h>

class Console {
 public:
  // Prints a formatted message atomically with respect to other CPUs.
  static void print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

  // Same as print with a va_list.
  static void vprint(const char* fmt, va_list ap);

  // Like print, but never waits for a lock this CPU already holds (used by
  // the exception path, which may interrupt a print on the same CPU).
  static void panic_print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
};

// Shorthand for Console::print.
#define kprintf(...) Console::print(__VA_ARGS__)
