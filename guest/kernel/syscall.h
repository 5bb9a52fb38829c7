// Entries from user mode: system calls (int3), exceptions, interrupts.
#pragma once
#include "arch/x86/intr.h"

// entry.S calls this on the CPU's kernel stack for every entry from ring 3;
// `f` is the frame inside the running Thread. Ends in Sched::schedule().
extern "C" [[noreturn]] void user_trap(Frame* f);

// Copies n bytes from user address `src` (faults are resolved or reported): 0 = ok.
extern "C" int copy_user(void* dst, const void* src, size_t n);

// Kills the current thread's process for exception `vector`, with a report on the console.
void kill_faulting(Frame* f, unsigned vector, u64 addr);
