#include "arch/x86/idt.h"

#include "arch/x86/memory.h"

extern "C" char intr_stubs[];  // entry.S: 16 bytes per vector
extern "C" char timer_entry[];  // entry.S: the timer's fast path

alignas(16) Idt::Gate Idt::table_[256];

namespace {

// Loads IDTR with the given base and limit.
void lidt(const void* base, u16 limit) {
  struct {
    u16 limit;
    u64 base;
  } __attribute__((packed)) idtr = {limit, reinterpret_cast<u64>(base)};
  asm volatile("lidt %0" : : "m"(idtr) : "memory");
}

}  // namespace

void Idt::set(unsigned vector, unsigned ist, bool user) {
  u64 entry = reinterpret_cast<u64>(intr_stubs) + vector * 16;
  table_[vector] = Gate{u16(entry), SEL_KCODE, u8(ist), u8(user ? 0xee : 0x8e), u16(entry >> 16), u32(entry >> 32), 0};
}

void Idt::init() {
  for (unsigned v = 0; v < 32; v++) set(v, v == 8 ? 1 : 0);  // #DF on IST1
  set(3, 0, true);  // int3 from ring 3: the system-call gate
  for (unsigned v = VEC_PIC_BASE; v < VEC_PIC_BASE + 16; v++) set(v, 0);
  set(VEC_TIMER, 0);
  u64 t = reinterpret_cast<u64>(timer_entry);
  table_[VEC_TIMER] = Gate{u16(t), SEL_KCODE, 0, 0x8e, u16(t >> 16), u32(t >> 32), 0};
  for (unsigned v = VEC_IRQ_BASE; v < VEC_IRQ_BASE + 24; v++) set(v, 0);
  set(VEC_CALL, 0);
  set(VEC_RESCHED, 0);
  set(VEC_SPURIOUS, 0);
}

void Idt::load() { lidt(table_, sizeof table_ - 1); }

void Idt::load_empty() { lidt(nullptr, 0); }
