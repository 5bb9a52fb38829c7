// Thin wrappers around x86 instructions. Only instructions that KVM's
// emulator handles at CPL0 on PVM hosts (see docs: no int3, int $n, rdtscp,
// xsave, SSE arithmetic).
#pragma once
#include "kernel/types.h"

namespace x86 {

// Writes a byte to an I/O port.
inline void outb(u16 port, u8 v) { asm volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }

// Reads a 32-bit I/O port.
inline u32 inl(u16 port) {
  u32 v;
  asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

// Writes a 32-bit value to an I/O port.
inline void outl(u16 port, u32 v) { asm volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }

// Reads a byte from an I/O port.
inline u8 inb(u16 port) {
  u8 v;
  asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

// Reads a model-specific register.
inline u64 rdmsr(u32 msr) {
  u32 lo, hi;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return (u64(hi) << 32) | lo;
}

// Writes a model-specific register.
inline void wrmsr(u32 msr, u64 v) { asm volatile("wrmsr" : : "c"(msr), "a"(u32(v)), "d"(u32(v >> 32))); }

// Reads the time-stamp counter.
inline u64 rdtsc() {
  u32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (u64(hi) << 32) | lo;
}

// Reads / writes CR4.
inline u64 read_cr4() {
  u64 v;
  asm volatile("mov %%cr4, %0" : "=r"(v));
  return v;
}
inline void write_cr4(u64 v) { asm volatile("mov %0, %%cr4" : : "r"(v) : "memory"); }

// Executes CPUID leaf `leaf`, subleaf 0.
inline void cpuid(u32 leaf, u32& a, u32& b, u32& c, u32& d) {
  asm volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(0));
}

// Returns CR2 (the faulting address of the last page fault).
inline u64 read_cr2() {
  u64 v;
  asm volatile("mov %%cr2, %0" : "=r"(v));
  return v;
}

// Flushes the local TLB entry of one virtual address.
inline void invlpg(Vaddr va) { asm volatile("invlpg (%0)" : : "r"(va) : "memory"); }

// Spin-wait hint.
inline void pause() { asm volatile("pause" ::: "memory"); }

// Disables interrupts.
inline void cli() { asm volatile("cli" ::: "memory"); }

// Enables interrupts and halts until the next one (atomically: sti shadows hlt).
inline void sti_hlt() { asm volatile("sti; hlt" ::: "memory"); }

// Disables interrupts and returns the previous RFLAGS.
inline u64 irq_save() {
  u64 f;
  asm volatile("pushf; pop %0; cli" : "=r"(f) : : "memory");
  return f;
}

// Restores the interrupt flag saved by irq_save().
inline void irq_restore(u64 f) {
  if (f & 0x200) asm volatile("sti" ::: "memory");
}

// True if interrupts are enabled.
inline bool irq_enabled() {
  u64 f;
  asm volatile("pushf; pop %0" : "=r"(f));
  return f & 0x200;
}

// Halts this CPU for good.
[[noreturn]] inline void halt_forever() {
  for (;;) asm volatile("cli; hlt" ::: "memory");
}

}  // namespace x86
