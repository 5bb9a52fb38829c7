// The CPUID the software CPU answers (Unicorn's own answer carries APIC ID
// 0 on every engine, and a model we do not control): a small, fixed x86-64
// model with what our guest uses, and each vCPU's own APIC ID.
#pragma once
#include <cstdint>

namespace hsls::accel::tcg {

struct CpuidResult {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

// Hypervisor leaf 0x40000001, EAX: the machine's time is virtual (a
// deterministic machine): the guest reads it from the clock device
// (docs/boot-protocol.md), never from rdtsc, which runs on the host's clock.
constexpr uint32_t kCpuidVirtualClock = 1u << 0;

// The answer for `leaf`/`subleaf` on the vCPU with APIC ID `apic_id` of
// `vcpus`; `virtual_clock`: announce the virtual clock.
CpuidResult cpuid(uint32_t leaf, uint32_t subleaf, unsigned apic_id, unsigned vcpus, bool virtual_clock = false);

}  // namespace hsls::accel::tcg
