#include "vmm/accel/tcg/cpuid.h"

#include <cstring>

namespace hsls::accel::tcg {
namespace {

// Four characters of a vendor or brand string as a register.
uint32_t chars(const char* s) {
  uint32_t v;
  std::memcpy(&v, s, 4);
  return v;
}

}  // namespace

CpuidResult cpuid(uint32_t leaf, uint32_t subleaf, unsigned apic_id, unsigned vcpus, bool virtual_clock) {
  (void)subleaf;
  CpuidResult r;
  switch (leaf) {
    case 0:  // max leaf, vendor "HyperSLS-TCG"
      r.eax = 0xd;
      r.ebx = chars("Hype");
      r.edx = chars("rSLS");
      r.ecx = chars("-TCG");
      break;
    case 1:
      r.eax = 0x000606a0;  // family 6
      r.ebx = (apic_id << 24) | ((vcpus & 0xff) << 16) | (8u << 8);  // APIC ID, logical CPUs, CLFLUSH 64 bytes
      // SSE3, CX16, x2APIC absent, TSC-deadline absent, hypervisor present
      r.ecx = (1u << 0) | (1u << 13) | (1u << 31);
      // FPU VME DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA CMOV PAT PSE36 CLFSH MMX FXSR SSE SSE2 HTT
      r.edx = 0x0789fbff | (1u << 28);
      break;
    case 0xb:  // no topology leaf beyond the APIC ID
      r.edx = apic_id;
      break;
    case 0x40000000:  // hypervisor leaves: up to 0x40000001, "HyperSLS-VMM"
      r.eax = 0x40000001;
      r.ebx = chars("Hype");
      r.ecx = chars("rSLS");
      r.edx = chars("-VMM");
      break;
    case 0x40000001:
      r.eax = virtual_clock ? kCpuidVirtualClock : 0;
      break;
    case 0x80000000:
      r.eax = 0x80000008;
      break;
    case 0x80000001:
      r.ecx = 1u << 0;                                      // LAHF in 64-bit mode
      r.edx = (1u << 11) | (1u << 20) | (1u << 29);         // SYSCALL, NX, LM
      break;
    case 0x80000008:
      r.eax = 48u << 8 | 40u;  // 48-bit linear, 40-bit physical addresses
      break;
    default: break;
  }
  return r;
}

}  // namespace hsls::accel::tcg
