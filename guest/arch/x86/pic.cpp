#include "arch/x86/pic.h"

#include "arch/x86/cpu.h"
#include "arch/x86/memory.h"

void Pic::disable() {
  x86::outb(0x20, 0x11);  // ICW1: init, ICW4 follows
  x86::outb(0xa0, 0x11);
  x86::outb(0x21, VEC_PIC_BASE);  // ICW2: vector base
  x86::outb(0xa1, VEC_PIC_BASE + 8);
  x86::outb(0x21, 0x04);  // ICW3: slave on IRQ2
  x86::outb(0xa1, 0x02);
  x86::outb(0x21, 0x01);  // ICW4: 8086 mode
  x86::outb(0xa1, 0x01);
  x86::outb(0x21, 0xff);  // mask all
  x86::outb(0xa1, 0xff);
}
