// Looking into a stopped guest: guest-virtual to guest-physical translation
// through the guest's page tables, Capstone disassembly, register dumps and
// the report written when the VM stops on something unexpected.
// Everything takes the backend-neutral accel::CpuState (vmm/accel/cpu_state.h).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmm/accel/cpu_state.h"
#include "vmm/core/guest_memory.h"

namespace hsls::debug {

// Translates a linear address with the paging mode in `cpu`; nullopt if unmapped
// (the walk itself is debug::walk, vmm/debug/page_walk.h).
std::optional<uint64_t> translate(const GuestMemory& mem, const accel::CpuState& cpu, uint64_t linear);

// One disassembled instruction.
struct Insn {
  uint64_t address;
  std::string bytes;     // hex
  std::string text;      // mnemonic and operands
};

// Capstone mode for the CPU mode in `cpu`: 16, 32 or 64.
int cpu_bits(const accel::CpuState& cpu);

// Disassembles up to `count` instructions at guest-physical `gpa`, labelled
// with addresses starting at `label` (the linear address), in `bits` mode.
std::vector<Insn> disassemble(const GuestMemory& mem, uint64_t gpa, uint64_t label, unsigned count, int bits);

// Instructions around rip: a few before (found by resynchronising on rip)
// and `after` from rip on. Each line starts with "=>" at rip.
std::vector<std::string> code_around(const GuestMemory& mem, const accel::CpuState& cpu, uint64_t rip, unsigned after);

// Multi-line dump of the general registers, control registers and segments.
std::string format_registers(const accel::CpuState& cpu);

// The report for an unexpected stop: reason, registers, code around rip.
std::string crash_report(const std::string& reason, unsigned vcpu, const accel::CpuState& cpu, const GuestMemory& mem);

}  // namespace hsls::debug
