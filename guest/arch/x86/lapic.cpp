#include "arch/x86/lapic.h"

#include "arch/x86/cpu.h"
#include "arch/x86/memory.h"

namespace {

constexpr u32 MSR_APIC_BASE = 0x1b;
constexpr u64 APIC_BASE_ENABLE = 1u << 11;
constexpr u32 LVT_MASKED = 1u << 16;
constexpr u32 TIMER_PERIODIC = 1u << 17;
constexpr u32 DIVIDE_BY_16 = 0x3;

}  // namespace

u32 Lapic::read(unsigned reg) { return *reinterpret_cast<volatile u32*>(PHYS_BASE + LAPIC_PHYS + reg); }

void Lapic::write(unsigned reg, u32 v) { *reinterpret_cast<volatile u32*>(PHYS_BASE + LAPIC_PHYS + reg) = v; }

void Lapic::init(bool bsp) {
  u64 base = x86::rdmsr(MSR_APIC_BASE);
  if (!(base & APIC_BASE_ENABLE)) x86::wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
  write(SVR, 0x100 | VEC_SPURIOUS);
  write(TPR, 0);
  write(LVT_LINT0, LVT_MASKED);
  write(LVT_LINT1, bsp ? 0x400 : LVT_MASKED);  // NMI delivery mode
  write(LVT_ERROR, LVT_MASKED);
  write(LVT_TIMER, LVT_MASKED | VEC_TIMER);
}

unsigned Lapic::id() { return read(ID) >> 24; }

void Lapic::start_timer(u32 count) {
  write(TIMER_DIV, DIVIDE_BY_16);
  write(LVT_TIMER, TIMER_PERIODIC | VEC_TIMER);
  write(TIMER_INIT, count);
}

void Lapic::start_countdown() {
  write(TIMER_DIV, DIVIDE_BY_16);
  write(LVT_TIMER, LVT_MASKED | VEC_TIMER);
  write(TIMER_INIT, 0xffffffff);
}

void Lapic::send(unsigned apic_id, u32 icr_lo) {
  u64 flags = x86::irq_save();
  write(ICR_HI, apic_id << 24);
  write(ICR_LO, icr_lo);
  for (unsigned i = 0; i < 1000 && (read(ICR_LO) & (1u << 12)); i++) x86::pause();
  x86::irq_restore(flags);
}

void Lapic::send_init(unsigned apic_id) { send(apic_id, 0x4500); }

void Lapic::send_sipi(unsigned apic_id, unsigned page) { send(apic_id, 0x4600 | (page & 0xff)); }

void Lapic::send_ipi(unsigned apic_id, unsigned vector) { send(apic_id, 0x4000 | (vector & 0xff)); }
