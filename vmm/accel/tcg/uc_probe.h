// The probes of this build's Unicorn: where its CPU state, its live CPU,
// a refused TLB fill's address and its exit flag sit, found and checked in
// a throwaway engine. uc_probe (a build tool linked with the same static
// library as vmm) runs them and writes the answers as C++ (uc_probed.h),
// which vmm compiles in: a start, a cold recovery included, no longer pays
// the probe engine's ~4 ms of first-touch page faults, and the library the
// answers are for is the one linked. A library that fails a probe is still
// refused, by name, when its answer is asked for.
#pragma once
#include <unicorn/unicorn.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "vmm/accel/tcg/uc_cpu.h"

namespace hsls::accel::tcg {

// Where Unicorn 2.1.1 keeps the live CPU: its engine struct points at QEMU's
// CPU object (`cpu`) at this offset, and that object's CPUX86State starts
// this far in. Found on this library by a search and never trusted
// unchecked: probe_live_cpu confirms them on the library linked in.
constexpr size_t kUcCpuField = 416, kEnvInCpuObject = 35408;

inline uint8_t* live_cpu_at(uc_engine* uc) {
  uint64_t cpu;
  std::memcpy(&cpu, reinterpret_cast<const uint8_t*>(uc) + kUcCpuField, 8);
  return reinterpret_cast<uint8_t*>(cpu + kEnvInCpuObject);
}

// Cross-thread stops (uc_enable_async_stop): Unicorn 2.1.1 keeps the flag
// that turns off its exit checks inside blocks (`no_exit_request`, set by
// its ARM translator only) at this offset of its engine struct, and QEMU's
// `halted` this far before the CPU bytes. Found in the library's code
// (check_exit_request, helper_hlt) and confirmed by probe_async_stop.
constexpr size_t kNoExitRequestField = 0x7da, kHaltedBeforeCpu = 0x8b8;

inline bool* no_exit_request_at(uc_engine* uc) {
  return reinterpret_cast<bool*>(reinterpret_cast<uint8_t*>(uc) + kNoExitRequestField);
}

// Every probe's answer, or the failure each use of it throws.
struct UcProbed {
  UcLayout layout;
  std::string layout_failure;
  size_t refused_offset = 0;
  std::string refused_failure;
  std::string live_failure;   // uc_live_cpu answers null
  std::string async_failure;  // uc_enable_async_stop answers false
};

// Runs every probe, in one throwaway engine.
UcProbed run_uc_probes();

// A C++ header defining the answers as constants (namespace probed).
std::string uc_probed_header(const UcProbed& p);

}  // namespace hsls::accel::tcg
