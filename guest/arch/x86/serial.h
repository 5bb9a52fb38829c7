// 16550 UART on COM1 (ports 0x3f8-0x3ff), polled output.
#pragma once

class Serial {
 public:
  // Programs 115200 8N1 with FIFOs on and the UART's interrupts off.
  static void init();

  // Sends one byte, waiting (bounded) for the transmit holding register.
  static void put(char c);

 private:
  static constexpr unsigned short PORT = 0x3f8;
};
