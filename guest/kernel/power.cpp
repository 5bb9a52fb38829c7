#include "kernel/power.h"

#include "arch/x86/cpu.h"
#include "arch/x86/idt.h"
#include "kernel/console.h"

void Power::off(u32 code) {
  x86::outl(0xf4, code);
  Console::panic_print("power: port 0xf4 did not power off; halting\n");
  x86::halt_forever();
}

void Power::triple_fault() {
  x86::cli();
  Idt::load_empty();
  asm volatile("ud2");
  Console::panic_print("crash: the triple fault did not reset the machine; halting\n");
  x86::halt_forever();
}
