#include "arch/x86/pit.h"

#include "arch/x86/cpu.h"

void Pit::start() {
  x86::outb(0x43, 0x34);  // channel 0, lobyte/hibyte, mode 2, binary
  x86::outb(0x40, 0);
  x86::outb(0x40, 0);
}

u16 Pit::count() {
  x86::outb(0x43, 0x00);  // latch channel 0
  u8 lo = x86::inb(0x40);
  u8 hi = x86::inb(0x40);
  return u16(lo | (hi << 8));
}

void Pit::stop() {
  x86::outb(0x43, 0x30);  // channel 0, lobyte/hibyte, mode 0 (one-shot)
  x86::outb(0x40, 1);
  x86::outb(0x40, 0);
}
