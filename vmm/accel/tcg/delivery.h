// Interrupt and exception delivery for the software CPU, done by the VMM:
// the engine (Unicorn) only reports a vector, it does not go through the
// guest's IDT. This is that part of the CPU, written once against the
// backend-neutral CpuState and guest-physical memory, in the way the Intel
// SDM (vol. 3, ch. 6, "64-bit mode") describes it. No engine dependency: the
// backend converts its CPU to CpuState, calls deliver(), converts back.
//
// What it does, in IA-32e mode (EFER.LMA) only:
//  - reads the 16-byte gate at IDTR.base + 16 * vector (IDTR limit,
//    interrupt/trap type, DPL for software events, present, upper type
//    bits zero, canonical offset), then the target code segment from the
//    GDT or LDT (non-null, in limits, code, DPL <= CPL, present, L=1 D=0);
//  - CPL is the RPL of CS.selector (in 64-bit mode the CPU keeps CS.RPL ==
//    SS.DPL == CPL; the selector is what every backend carries). After the
//    delivery CS.RPL, CS.dpl and (on a privilege change) SS agree again;
//  - privilege change when the target code segment is non-conforming with
//    DPL < CPL: RSP from TSS.RSP<DPL> (64-bit TSS at TR.base, TR.limit
//    checked), SS = null selector with RPL = new CPL, hidden part a usable
//    flat writable data segment with DPL = new CPL;
//  - IST (gate bits 0-2 != 0): RSP from TSS.IST<n>, with or without a
//    privilege change;
//  - RSP aligned down to 16, then SS, RSP, RFLAGS, CS, RIP and (exceptions
//    8, 10-14, 17, 21, 29, 30 only) the error code pushed as 8-byte values;
//    RIP pushed is cpu.rip as given (the caller passes the faulting
//    instruction for faults, the next one for traps and software events);
//    the RFLAGS image has RF set for fault-class exceptions (SDM 17.3.1.1);
//  - TF, NT, RF, VM cleared, IF cleared for interrupt gates; CS loaded
//    (gate selector with RPL = new CPL, hidden part from the descriptor,
//    accessed bit set in the hidden part only), RIP = gate offset;
//    interrupt shadow cleared; a halted CPU runs again; CR2 = ev.cr2 for #PF.
// Every access to the IDT, GDT/LDT, TSS and the new stack is a supervisor
// access through the guest's page tables (4-level, or 5-level with
// CR4.LA57; debug::walk): present bits everywhere, R/W for stack writes when
// CR0.WP is set, accessed bits set on the entries used and the dirty bit on
// the stack pages written. Not modelled: SMAP, protection keys, reserved-bit
// #PF, and writing the accessed bit back into the code-segment descriptor.
// The stack frame is translated and checked in full before any byte is
// written, so a delivery that faults writes nothing on that stack.
//
// A fault while delivering an event is handled like the CPU does (SDM table
// 6-5, kept to the three classes): benign events (external interrupts,
// software interrupts, benign exceptions) let the new fault be delivered
// instead; contributory (#DE, #TS, #NP, #SS, #GP, #CP) then contributory,
// or page-fault class (#PF, #VE) then contributory or #PF, becomes #DF
// (error code 0); any fault while delivering #DF is a triple fault. Faults
// raised here have the error codes of the SDM: vector*8+2 (IDT bit) or the
// selector for descriptor faults, plus EXT (bit 0) unless the event being
// delivered was a software one; a #PF on an access here sets CR2 to the
// faulting linear address with error code W (bit 1) for stack writes and P
// (bit 0) for a protection fault. A fault raised while delivering a
// software event is a fault of the INT instruction itself: when
// ev.insn_length is known its address (rip - insn_length) is pushed.
//
// NMIs are not special here: the caller delivers vector 2 as `external`
// and keeps cpu.nmi_masked itself. Outside IA-32e mode nothing is delivered.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/accel/cpu_state.h"
#include "vmm/core/guest_memory.h"

namespace hsls::accel::tcg {

// One event to deliver.
struct Event {
  uint8_t vector = 0;
  enum class Kind : uint8_t {
    external,   // an interrupt from the interrupt controller (or NMI)
    exception,  // raised by the CPU (faults, traps, aborts)
    software    // int n, int3, into
  } kind = Kind::external;
  bool has_error = false;  // the caller's note; whether an error code is pushed
                           // follows the vector (see has_error_code), the value pushed is `error`
  uint32_t error = 0;
  uint64_t cr2 = 0;        // #PF: the faulting linear address
  // Software events: the length of the INT instruction, so that a fault
  // raised while delivering it (#GP for a gate DPL < CPL, #NP, ...) pushes
  // the INT's own address like the CPU; 0 = unknown (rip pushed as given).
  uint8_t insn_length = 0;
};

struct DeliveryResult {
  // write_refused: guest memory refused a write (its page could not be
  // backed up: the power failed); cpu is left as given and nothing more may
  // be written.
  enum class Outcome { delivered, triple_fault, write_refused } outcome = Outcome::delivered;
  // triple_fault: why, one line. delivered: empty, or (when a fault during
  // the delivery made the CPU deliver something else) what happened, one line.
  std::string detail;
  uint8_t delivered_vector = 0;  // the vector whose handler now runs (delivered only)
  // Each guest-physical page (4 KiB aligned, sorted, once) the delivery
  // wrote, whatever the outcome: the frame's and those of page tables whose accessed or
  // dirty bits it set. Writes past the engine: the dirty log must hear of them.
  std::vector<uint64_t> pages_written;
};

// Delivers `ev` to the CPU in `cpu`: on `delivered` cpu holds the handler's
// state and the frame is in guest memory; on `triple_fault` cpu is left as
// given (memory may have had accessed bits set). Never throws for guest
// state; a frame or table in guest-physical space outside RAM (a device)
// cannot be emulated and is reported as a triple fault too.
DeliveryResult deliver(CpuState& cpu, GuestMemory& mem, const Event& ev);
// The same into `out`, reusing its buffers (the software CPU delivers
// every system call: no allocation on that path once they have grown).
// On a triple fault out.pages_written still lists the pages whose
// accessed bits were set.
void deliver(CpuState& cpu, GuestMemory& mem, const Event& ev, DeliveryResult& out);

// True if the CPU accepts a maskable external interrupt now: RFLAGS.IF set
// and no interrupt shadow (sti / mov ss) pending.
bool can_take_external(const CpuState& cpu);

// True for the exception vectors that push an error code (8, 10-14, 17, 21, 29, 30).
bool has_error_code(uint8_t vector);

}  // namespace hsls::accel::tcg
