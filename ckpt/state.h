// The saved volatile state of the machine, as plain versioned structs kept
// apart from the live objects (Firecracker style): snapshot = collect
// states, restore = build from them. Every part is backend-neutral
// (vmm/accel/cpu_state.h, vmm/platform/platform_state.h), so a checkpoint
// taken under one accelerator resumes under the other; the header names
// the accelerator that wrote it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "vmm/accel/cpu_state.h"
#include "vmm/devices/serial.h"
#include "vmm/platform/platform_state.h"

namespace hsls::ckpt {

// One vCPU: its CPU and its local APIC.
struct VcpuState {
  static constexpr uint32_t kVersion = 2;
  uint32_t version = kVersion;
  uint32_t pad = 0;
  uint8_t reserved[8] = {};  // explicit: CpuState is 16-byte aligned, and no byte of this may be left unset
  accel::CpuState cpu;
  platform::LapicState lapic;
};
// Written byte for byte into the NVM file: no implicit padding (same layout as before reserved[] was named).
static_assert(std::has_unique_object_representations_v<VcpuState> && sizeof(VcpuState) == 2256 &&
              offsetof(VcpuState, cpu) == 16);

// The header of a saved machine state; vCPU states, the platform state, the
// serial port and the devices' variable-size states (a u64 byte count and
// the bytes; today: virtio-net with the frames it holds) follow in this order.
struct MachineStateHeader {
  static constexpr uint64_t kMagic = 0x5441545353534c48ull;  // "HLSSSTAT"
  // 4: the platform state carries the clock (and a deterministic
  // machine's schedule). 3: backend-neutral parts and the accelerator's
  // name. 1-2 held KVM's own structs. Older formats are refused by name.
  static constexpr uint32_t kVersion = 4;
  uint64_t magic = kMagic;
  uint32_t version = kVersion;
  uint32_t vcpus = 0;
  uint64_t version_tag = 0;  // the checkpoint version this state belongs to
  uint64_t total_bytes = 0;
  char accel[8] = {};        // "kvm" / "tcg": which accelerator wrote it (NUL-padded)

  void set_accel(const std::string& name) { std::strncpy(accel, name.c_str(), sizeof accel - 1); }
  std::string accel_name() const { return std::string(accel, strnlen(accel, sizeof accel)); }
};

// Byte offsets of the parts of a saved state with `vcpus` vCPUs.
struct StateLayout {
  uint64_t vcpu(unsigned i) const { return sizeof(MachineStateHeader) + uint64_t(i) * sizeof(VcpuState); }
  uint64_t platform(unsigned vcpus) const { return vcpu(vcpus); }
  uint64_t serial(unsigned vcpus) const { return platform(vcpus) + sizeof(platform::PlatformState); }
  uint64_t devices(unsigned vcpus) const { return serial(vcpus) + sizeof(SerialState); }
  // The size with `device_bytes` of variable device state.
  uint64_t total(unsigned vcpus, uint64_t device_bytes = 0) const { return devices(vcpus) + 8 + device_bytes; }
};

// Names the general registers that differ, with both values (for a torn-restore report).
std::string regs_difference(const accel::CpuState& want, const accel::CpuState& got);

}  // namespace hsls::ckpt
