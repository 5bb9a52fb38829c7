// Backend-neutral saved state of one vCPU: our own plain, versioned struct
// (Firecracker style), not a backend's raw one. Each accelerator converts
// its CPU to and from it, so a checkpoint taken under one accelerator
// resumes under the other. Every field is fixed-size and the struct has no
// implicit padding: it is written byte for byte into the NVM file.
#pragma once
#include <cstdint>

namespace hsls::accel {

// A segment register with its hidden part, in the layout of a descriptor's fields.
struct Segment {
  uint64_t base = 0;
  uint32_t limit = 0;
  uint16_t selector = 0;
  uint8_t type = 0;      // descriptor type field (4 bits)
  uint8_t present = 0;
  uint8_t dpl = 0;
  uint8_t db = 0;
  uint8_t s = 0;         // 1 = code/data, 0 = system
  uint8_t l = 0;         // 64-bit code
  uint8_t g = 0;
  uint8_t avl = 0;
  uint8_t unusable = 0;
  uint8_t pad = 0;
};
static_assert(sizeof(Segment) == 24);

// TR's type as the neutral state keeps it: a loaded TSS is busy (`ltr` marks
// its descriptor so, SDM "TSS Descriptor"), whatever form a backend caches it in (QEMU's engine
// keeps the available type after `ltr`; KVM reports busy).
constexpr uint8_t tss_busy(uint8_t type) { return (type == 1 || type == 9) ? uint8_t(type | 2) : type; }
// The same TSS type, available (busy bit clear).
constexpr uint8_t tss_available(uint8_t type) { return (type == 3 || type == 11) ? uint8_t(type & ~2) : type; }

// GDTR / IDTR.
struct DescriptorTable {
  uint64_t base = 0;
  uint16_t limit = 0;
  uint16_t pad[3] = {};
};
static_assert(sizeof(DescriptorTable) == 16);

// What a vCPU is doing besides executing.
enum class RunState : uint32_t {
  running = 0,
  halted = 1,        // after hlt, until an interrupt
  wait_for_sipi = 2, // an AP before its start-up IPI (or after INIT)
};

// Indices into CpuState::gpr, in the hardware's register-number order.
enum Gpr : unsigned { rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15 };

struct CpuState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint32_t index = 0;  // the vCPU (its APIC ID)

  uint64_t gpr[16] = {};
  uint64_t rip = 0;
  uint64_t rflags = 0x2;

  Segment cs, ds, es, fs, gs, ss, tr, ldt;
  DescriptorTable gdt, idt;

  uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0;
  uint64_t efer = 0;
  uint64_t xcr0 = 1;
  uint64_t dr[8] = {};  // dr0-dr3, (dr4, dr5 unused), dr6, dr7

  // The MSRs a checkpoint saves.
  uint64_t apic_base = 0;
  uint64_t star = 0, lstar = 0, cstar = 0, sfmask = 0;
  uint64_t kernel_gs_base = 0;
  uint64_t tsc_aux = 0;
  uint64_t pat = 0x0007040600070406ull;
  uint64_t sysenter_cs = 0, sysenter_esp = 0, sysenter_eip = 0;
  uint64_t tsc = 0;  // the guest's TSC at the save

  // FPU/SSE state in the FXSAVE layout (x87, MXCSR, XMM0-15).
  alignas(16) uint8_t fxsave[512] = {};

  // Events and run state.
  RunState run_state = RunState::running;
  uint8_t interrupt_shadow = 0;  // the next instruction cannot be interrupted (sti / mov ss)
  uint8_t nmi_pending = 0;
  uint8_t nmi_masked = 0;
  uint8_t exception_pending = 0; // an exception to inject before the next instruction
  uint8_t exception_vector = 0;
  uint8_t exception_has_error = 0;
  uint8_t pad0[2] = {};
  uint32_t exception_error = 0;
  uint32_t sipi_vector = 0;      // the start-up page of the last SIPI, while wait_for_sipi
  // An external interrupt the CPU has taken from its LAPIC (IRR -> ISR) but
  // not yet delivered through the IDT (KVM: an injected event): delivered
  // before the next instruction, else its ISR bit would never see an EOI.
  uint8_t interrupt_pending = 0;
  uint8_t interrupt_vector = 0;
  uint8_t interrupt_soft = 0;
  uint8_t reserved[73] = {};  // room for later fields; keeps the size a multiple of 16 with no padding
};

}  // namespace hsls::accel
