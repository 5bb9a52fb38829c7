// The CPUID the software CPU answers (Unicorn's own answer carries APIC ID
// 0 on every engine, and a model we do not control): a small, fixed x86-64
// model with what our guest uses, and each vCPU's own APIC ID.
#pragma once
#include <cstdint>

namespace hsls::accel::tcg {

struct CpuidResult {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

// The answer for `leaf`/`subleaf` on the vCPU with APIC ID `apic_id` of `vcpus`.
CpuidResult cpuid(uint32_t leaf, uint32_t subleaf, unsigned apic_id, unsigned vcpus);

}  // namespace hsls::accel::tcg
