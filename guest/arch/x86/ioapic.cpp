#include "arch/x86/ioapic.h"

#include "arch/x86/memory.h"

unsigned Ioapic::pins_;

namespace {

volatile u32* const regsel = reinterpret_cast<volatile u32*>(PHYS_BASE + IOAPIC_PHYS);
volatile u32* const window = reinterpret_cast<volatile u32*>(PHYS_BASE + IOAPIC_PHYS + 0x10);
constexpr u32 MASKED = 1u << 16;

}  // namespace

u32 Ioapic::read(unsigned reg) {
  *regsel = reg;
  return *window;
}

void Ioapic::write(unsigned reg, u32 v) {
  *regsel = reg;
  *window = v;
}

void Ioapic::init() {
  u32 ver = read(1);
  pins_ = ver == 0xffffffff ? 0 : ((ver >> 16) & 0xff) + 1;
  for (unsigned pin = 0; pin < pins_; pin++) write(0x10 + 2 * pin, MASKED);
}

void Ioapic::route(unsigned pin, unsigned vector, unsigned apic_id) {
  if (pin >= pins_) return;
  write(0x11 + 2 * pin, apic_id << 24);
  write(0x10 + 2 * pin, vector & 0xff);
}

void Ioapic::mask(unsigned pin) {
  if (pin < pins_) write(0x10 + 2 * pin, MASKED);
}
