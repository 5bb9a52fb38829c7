// Legacy 8259 PIC pair.
#pragma once

class Pic {
 public:
  // Remaps the PICs to VEC_PIC_BASE..+15 (so stray interrupts do not look
  // like exceptions) and masks every line; the kernel uses the APICs.
  static void disable();
};
