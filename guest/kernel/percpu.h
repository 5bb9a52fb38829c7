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

class Thread;

// A CPU's run queue (threads ready to run here), protected by the big kernel lock.
struct RunQueue {
  Thread* head = nullptr;
  Thread* tail = nullptr;
  unsigned count = 0;
};

class Cpu {
 public:
  Cpu* self = nullptr;            // must stay first: %gs:0
  u64 kstack_top = 0;             // %gs:8: kernel stack for entries from user mode (entry.S)
  Thread* thread = nullptr;       // %gs:16: thread running here (nullptr: idle)
  volatile u64 ticks = 0;         // %gs:24: LAPIC timer interrupts taken
  volatile u64* desc_ticks = nullptr;  // %gs:32: this CPU's tick count in the descriptor
  volatile u32 tick_slow = 0;     // %gs:40: a timer tick from user mode must take the full path
  unsigned id = 0;                // logical index == APIC ID
  RunQueue rq;
  volatile u32 flush_pending = 0; // a TLB shoot-down asked of this CPU
  volatile u32 idle = 0;          // halted in the idle loop
  bool need_resched = false;
  u64 cr3 = 0;                    // page table loaded here
  volatile u32 online = 0;        // set once the CPU runs with its timer on
  SmpCall call;
  Tss tss;
  Gdt gdt;

  // The CPU this code runs on.
  static Cpu& current() {
    Cpu* c;
    asm volatile("mov %%gs:0, %0" : "=r"(c));
    return *c;
  }

  // Reloads CR3 (flushes the TLB) and acknowledges a shoot-down request.
  void flush_tlb();

  // Loads page table `root` unless it is already loaded.
  void load_cr3(u64 root) {
    if (cr3 == root) return;
    cr3 = root;
    asm volatile("mov %0, %%cr3" : : "r"(root) : "memory");
  }

  // Makes `this` the calling CPU's per-CPU data (GS base) and loads its GDT,
  // TSS and the shared IDT. Must be the first thing a CPU does in C++.
  void init_local(unsigned cpu_id);
};

extern Cpu cpus[MAX_CPUS];

// Kernel stacks, one per CPU (boot.S and trampoline.S use them by index).
extern "C" char kernel_stacks[MAX_CPUS][STACK_SIZE];
