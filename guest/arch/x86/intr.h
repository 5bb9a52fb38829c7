// Interrupt and exception dispatch: the register frame entry.S builds and the
// C++ handler it calls.
#pragma once
#include "kernel/types.h"

// Saved state of an interrupted context, lowest address first.
struct Frame {
  u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  u64 vector, error;
  u64 rip, cs, rflags, rsp, ss;  // pushed by the CPU
};

// Entry point from intr_common: exceptions, the LAPIC timer, IPIs.
extern "C" void intr_dispatch(Frame* f);

// Reads 8 bytes at `addr` into *out; returns false instead of faulting if
// `addr` is not mapped (entry.S, via the exception table).
extern "C" bool probe_read64(const void* addr, u64* out);
