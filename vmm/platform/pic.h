// The 8259A master/slave pair of a PC (master at ports 0x20/0x21, slave at
// 0xA0/0xA1, the slave cascaded into master IRQ 2): the ICW1-ICW4
// initialisation sequence, OCW1 masking, OCW2 EOI/rotation, OCW3 register
// select, poll and special mask, auto-EOI, edge or level (ICW1 LTIM) inputs.
//
// Our guest only initialises both chips and masks every line; pending()
// and acknowledge() exist for completeness, for a CPU that wants the PIC's
// INTR output. Not modelled: 8080 mode, special fully nested mode,
// buffered mode, the ELCR ports (0x4D0/0x4D1); ICW3 is accepted and
// ignored since the cascade is fixed at IRQ 2.
#pragma once
#include <cstdint>

#include "vmm/platform/platform_state.h"

namespace hsls::platform {

class Pic {
 public:
  // Both chips in their power-on state: not initialised, every line masked.
  Pic() = default;

  // Whether `port` is one of the four ports of the pair.
  static bool owns(uint16_t port) { return port == 0x20 || port == 0x21 || port == 0xa0 || port == 0xa1; }

  // An inb from one of the ports: the command port gives IRR or ISR (per
  // OCW3) or a poll result, the data port the mask.
  uint8_t read(uint16_t port);
  // An outb to one of the ports: ICW1 / OCW2 / OCW3 on the command port,
  // ICW2-ICW4 (during initialisation) or OCW1 (the mask) on the data port.
  void write(uint16_t port, uint8_t value);

  // Input line `irq` (0-7 master, 8-15 slave; 2 is the cascade) is now at `level`.
  void set_irq(unsigned irq, bool level);
  // The vector the pair would hand the CPU now; -1 when INTR is low.
  int pending() const;
  // The CPU's interrupt acknowledge: returns the vector and marks it in
  // service (unless auto-EOI). With nothing pending, the chip's spurious
  // IRQ 7 vector, as the 8259A gives.
  uint8_t acknowledge();

  PicState save() const { return st_; }
  // Takes over `s`. Throws hsls::Error naming what is wrong (version,
  // initialisation step, flags, vector base, rotation).
  void restore(const PicState& s);

 private:
  using Chip = PicChipState;
  static int priority(const Chip& c, uint8_t mask);
  static int chip_pending(const Chip& c);
  static void chip_set_irq(Chip& c, unsigned irq, bool level);
  static uint8_t chip_ack(Chip& c, unsigned irq);
  static void write_command(Chip& c, uint8_t value);
  static void write_data(Chip& c, uint8_t value);
  static uint8_t chip_read(Chip& c, bool command);
  uint8_t poll(bool slave);
  void update_cascade();

  PicState st_;
};

}  // namespace hsls::platform
