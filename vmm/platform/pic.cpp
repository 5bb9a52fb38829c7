#include "vmm/platform/pic.h"

#include <string>

#include "vmm/core/error.h"

namespace hsls::platform {

namespace {

constexpr unsigned kCascadeIrq = 2;

}  // namespace

// The priority rank (0 = highest) of the best line set in `mask`; 8 if
// none. Rotation makes line priority_add the highest, then the next ones.
int Pic::priority(const Chip& c, uint8_t mask) {
  for (int i = 0; i < 8; ++i)
    if (mask >> ((i + c.priority_add) & 7) & 1) return i;
  return 8;
}

// The line this chip would raise INTR for: the best unmasked request that
// outranks everything in service (special mask mode: masked lines in
// service do not count); -1 if none.
int Pic::chip_pending(const Chip& c) {
  int p = priority(c, c.irr & ~c.imr);
  if (p == 8) return -1;
  uint8_t in_service = c.special_mask ? c.isr & ~c.imr : c.isr;
  return p < priority(c, in_service) ? (p + c.priority_add) & 7 : -1;
}

// An input line changes. Edge mode latches IRR on a rising edge (and keeps
// it until acknowledged); level mode (LTIM) makes IRR follow the line.
void Pic::chip_set_irq(Chip& c, unsigned irq, bool level) {
  uint8_t mask = uint8_t(1u << irq);
  if (c.level_triggered) {
    c.irr = level ? c.irr | mask : c.irr & ~mask;
  } else if (level && !(c.last_level & mask)) {
    c.irr |= mask;
  }
  c.last_level = level ? c.last_level | mask : c.last_level & ~mask;
}

// The chip gives line `irq` to the CPU: in service (or, with auto-EOI, done
// at once, rotating if asked), and its edge request consumed. Returns the vector.
uint8_t Pic::chip_ack(Chip& c, unsigned irq) {
  uint8_t mask = uint8_t(1u << irq);
  if (!c.auto_eoi) c.isr |= mask;
  else if (c.rotate_on_auto_eoi) c.priority_add = (irq + 1) & 7;
  if (!c.level_triggered) c.irr &= ~mask;
  return uint8_t(c.vector_base + irq);
}

// The command port: ICW1 (bit 4) starts initialisation, OCW3 (bit 3) selects
// the register to read, polls, or sets the special mask mode, and OCW2 ends
// or rotates interrupts.
void Pic::write_command(Chip& c, uint8_t v) {
  if (v & 0x10) {  // ICW1
    // The datasheet's initialisation: mask cleared, nothing in service, IR7
    // lowest, IRR read selected, ICW4 functions off until ICW4 says otherwise,
    // and a line that is already high must go low and high again.
    c.level_triggered = v >> 3 & 1;
    c.single_mode = v >> 1 & 1;
    c.icw4_needed = v & 1;
    c.irr = c.level_triggered ? c.last_level : 0;
    c.imr = c.isr = 0;
    c.priority_add = 0;
    c.special_mask = c.read_isr = c.poll = 0;
    c.auto_eoi = c.rotate_on_auto_eoi = 0;
    c.init_step = 1;
    return;
  }
  if (v & 0x08) {  // OCW3
    if (v & 0x04) c.poll = 1;
    if (v & 0x02) c.read_isr = v & 1;
    if (v & 0x40) c.special_mask = v >> 5 & 1;
    return;
  }
  // OCW2: bits 7-5 are R, SL, EOI; bits 2-0 the line for the specific forms.
  unsigned line = v & 7;
  switch (v >> 5) {
    case 0: c.rotate_on_auto_eoi = 0; break;
    case 4: c.rotate_on_auto_eoi = 1; break;
    case 1:    // non-specific EOI: the highest-priority line in service
    case 5: {  // ... and make it the lowest
      int p = priority(c, c.isr);
      if (p == 8) break;
      unsigned irq = (unsigned(p) + c.priority_add) & 7;
      c.isr &= uint8_t(~(1u << irq));
      if (v >> 5 == 5) c.priority_add = (irq + 1) & 7;
      break;
    }
    case 3: c.isr &= uint8_t(~(1u << line)); break;  // specific EOI
    case 7:                                            // rotate on specific EOI
      c.isr &= uint8_t(~(1u << line));
      c.priority_add = (line + 1) & 7;
      break;
    case 6: c.priority_add = (line + 1) & 7; break;  // set priority: `line` lowest
    default: break;                                  // 2: no operation
  }
}

// The data port: ICW2 (vector base), ICW3 (ignored: the cascade is fixed),
// ICW4 (auto-EOI) while initialising; OCW1 (the mask) otherwise.
void Pic::write_data(Chip& c, uint8_t v) {
  switch (c.init_step) {
    case 1:
      c.vector_base = v & 0xf8;
      c.init_step = c.single_mode ? (c.icw4_needed ? 3 : 0) : 2;
      break;
    case 2: c.init_step = c.icw4_needed ? 3 : 0; break;
    case 3:
      c.auto_eoi = v >> 1 & 1;
      c.init_step = 0;
      break;
    default: c.imr = v; break;
  }
}

// The slave's INTR output is master line 2.
void Pic::update_cascade() { chip_set_irq(st_.master, kCascadeIrq, chip_pending(st_.slave) >= 0); }

// The poll command's read: 0x80 | line of the best request, which is
// acknowledged as by an INTA; 0 if none.
uint8_t Pic::poll(bool slave) {
  Chip& c = slave ? st_.slave : st_.master;
  c.poll = 0;
  int irq = chip_pending(c);
  if (irq < 0) return 0;
  chip_ack(c, unsigned(irq));
  update_cascade();
  return uint8_t(0x80 | irq);
}

// A read from one of the four ports (0xff elsewhere).
uint8_t Pic::read(uint16_t port) {
  if (!owns(port)) return 0xff;
  bool slave = port & 0x80;
  Chip& c = slave ? st_.slave : st_.master;
  if (c.poll) return poll(slave);  // the read after a poll command, at either port
  if (port & 1) return c.imr;
  return c.read_isr ? c.isr : c.irr;
}

// A write to one of the four ports (ignored elsewhere).
void Pic::write(uint16_t port, uint8_t value) {
  if (!owns(port)) return;
  Chip& c = port & 0x80 ? st_.slave : st_.master;
  if (port & 1) write_data(c, value);
  else write_command(c, value);
  update_cascade();
}

// An input line changes; line 2 is the cascade and not an input.
void Pic::set_irq(unsigned irq, bool level) {
  if (irq >= 16 || irq == kCascadeIrq) return;
  if (irq < 8) chip_set_irq(st_.master, irq, level);
  else chip_set_irq(st_.slave, irq - 8, level);
  update_cascade();
}

// The vector INTR stands for: a master line, or through line 2 a slave
// line (the slave's spurious vector if its request went away).
int Pic::pending() const {
  int irq = chip_pending(st_.master);
  if (irq < 0) return -1;
  if (unsigned(irq) != kCascadeIrq) return st_.master.vector_base + irq;
  int s = chip_pending(st_.slave);
  return st_.slave.vector_base + (s < 0 ? 7 : s);
}

// The interrupt acknowledge cycle. A request that vanished before it gives
// the spurious IRQ 7 vector of the chip concerned, with nothing in service.
uint8_t Pic::acknowledge() {
  int irq = chip_pending(st_.master);
  if (irq < 0) return uint8_t(st_.master.vector_base + 7);
  uint8_t vector = chip_ack(st_.master, unsigned(irq));
  if (unsigned(irq) == kCascadeIrq) {
    int s = chip_pending(st_.slave);
    vector = s < 0 ? uint8_t(st_.slave.vector_base + 7) : chip_ack(st_.slave, unsigned(s));
    update_cascade();
  }
  return vector;
}

// Takes over a saved state after checking both chips.
void Pic::restore(const PicState& s) {
  if (s.version != PicState::kVersion)
    throw Error("pic: saved state version " + std::to_string(s.version) + ", expected " +
                std::to_string(PicState::kVersion));
  for (const Chip* c : {&s.master, &s.slave}) {
    std::string who = c == &s.master ? "pic master: " : "pic slave: ";
    if (c->init_step > 3) throw Error(who + "saved initialisation step " + std::to_string(c->init_step) + " (0-3)");
    if (c->vector_base & 7)
      throw Error(who + "saved vector base " + std::to_string(c->vector_base) + " is not a multiple of 8");
    if (c->priority_add > 7) throw Error(who + "saved rotation " + std::to_string(c->priority_add) + " (0-7)");
    uint8_t flags[] = {c->icw4_needed, c->read_isr, c->auto_eoi, c->special_mask,
                       c->rotate_on_auto_eoi, c->poll, c->level_triggered, c->single_mode};
    for (uint8_t f : flags)
      if (f > 1) throw Error(who + "saved flag value " + std::to_string(f) + " is not 0 or 1");
  }
  st_ = s;
}

}  // namespace hsls::platform
