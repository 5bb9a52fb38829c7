// Per-CPU data, reachable through the GS base (%gs:0 points at the Cpu itself).
#pragma once
#include "arch/x86/gdt.h"
#include "arch/x86/memory.h"
#include "kernel/spinlock.h"
#include "kernel/types.h"

// A function another CPU asked this CPU to run (see Smp::post).
struct SmpCall {
  Spinlock lock;                  // serialises callers
  void (*fn)(void*) = nullptr;
  void* arg = nullptr;
  volatile u32 pending = 0;       // set by the caller, cleared when fn returned
};

class Cpu {
 public:
  Cpu* self = nullptr;            // must stay first: %gs:0
  unsigned id = 0;                // logical index == APIC ID
  volatile u32 online = 0;        // set once the CPU runs with its timer on
  volatile u64 ticks = 0;         // LAPIC timer interrupts taken
  SmpCall call;
  Tss tss;
  Gdt gdt;

  // The CPU this code runs on.
  static Cpu& current() {
    Cpu* c;
    asm volatile("mov %%gs:0, %0" : "=r"(c));
    return *c;
  }

  // Makes `this` the calling CPU's per-CPU data (GS base) and loads its GDT,
  // TSS and the shared IDT. Must be the first thing a CPU does in C++.
  void init_local(unsigned cpu_id);
};

extern Cpu cpus[MAX_CPUS];

// Kernel stacks, one per CPU (boot.S and trampoline.S use them by index).
extern "C" char kernel_stacks[MAX_CPUS][STACK_SIZE];
