// The interrupt descriptor table, shared by all CPUs.
#pragma once
#include "kernel/types.h"

class Idt {
 public:
  // Points the gates the kernel handles at their entry stubs (entry.S):
  // exceptions, the legacy PIC range, the timer, the call IPI, spurious.
  // Runs once, on the BSP; vectors left out are not present (#NP if raised).
  static void init();

  // Loads the IDT on the calling CPU.
  static void load();

  // Loads a zero-limit IDT: the next exception or interrupt triple-faults.
  static void load_empty();

 private:
  struct Gate {
    u16 offset_lo;
    u16 selector;
    u8 ist;
    u8 type;
    u16 offset_mid;
    u32 offset_hi;
    u32 reserved;
  };
  static_assert(sizeof(Gate) == 16);

  // Sets one interrupt gate to its stub, using IST slot `ist` (0: none);
  // `user`: DPL 3, so ring 3 may raise it (the int3 system-call gate).
  static void set(unsigned vector, unsigned ist, bool user = false);

  static Gate table_[256];
};
