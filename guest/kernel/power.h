// Ending the run: power-off port and the triple-fault test hook.
#pragma once
#include "kernel/types.h"

class Power {
 public:
  // Powers the VM off with `code` (32-bit write to port 0xf4: the VMM exits
  // with code & 0xff; QEMU's isa-debug-exit with (code << 1) | 1).
  [[noreturn]] static void off(u32 code);

  // Loads a zero-limit IDT and raises #UD: #UD -> #GP -> #DF -> triple fault.
  [[noreturn]] static void triple_fault();
};
