#include "arch/x86/serial.h"

#include "arch/x86/cpu.h"

void Serial::init() {
  x86::outb(PORT + 1, 0x00);  // IER: no interrupts
  x86::outb(PORT + 3, 0x80);  // LCR: DLAB
  x86::outb(PORT + 0, 0x01);  // DLL: 115200 baud
  x86::outb(PORT + 1, 0x00);  // DLM
  x86::outb(PORT + 3, 0x03);  // LCR: 8N1
  x86::outb(PORT + 2, 0x07);  // FCR: enable and clear FIFOs
  x86::outb(PORT + 4, 0x03);  // MCR: DTR | RTS
}

void Serial::put(char c) {
  // A stuck or absent UART must not hang the kernel: give up after a while.
  for (unsigned i = 0; i < 10000 && !(x86::inb(PORT + 5) & 0x20); i++) x86::pause();
  x86::outb(PORT, u8(c));
}
