// I/O APIC at IOAPIC_PHYS (through the direct map).
#pragma once
#include "kernel/types.h"

class Ioapic {
 public:
  // Reads the number of pins and masks every redirection entry.
  static void init();

  // Number of redirection entries (0 if there is no IOAPIC).
  static unsigned pins() { return pins_; }

  // Routes `pin` (edge-triggered, active high) to `vector` on CPU `apic_id`, unmasked.
  static void route(unsigned pin, unsigned vector, unsigned apic_id);

  // Masks `pin`.
  static void mask(unsigned pin);

 private:
  // Reads an indirect IOAPIC register.
  static u32 read(unsigned reg);

  // Writes an indirect IOAPIC register.
  static void write(unsigned reg, u32 v);

  static unsigned pins_;
};
