// The volatile state of the machine that a checkpoint saves and recovery
// loads, as plain versioned structs kept apart from the live objects
// (Firecracker style): snapshot = collect states, restore = build from them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/devices/serial.h"
#include "vmm/kvm/kvm_api.h"

namespace hsls::ckpt {

inline constexpr unsigned kMaxMsrs = 48;

// Everything KVM holds for one vCPU.
struct VcpuState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint32_t index = 0;
  kvm_regs regs;
  kvm_sregs sregs;
  kvm_xsave xsave;
  kvm_xcrs xcrs;
  kvm_lapic_state lapic;
  kvm_vcpu_events events;
  kvm_mp_state mp_state;
  kvm_debugregs debugregs;
  uint32_t nmsrs = 0;
  uint32_t pad = 0;
  kvm_msr_entry msrs[kMaxMsrs];
};

// VM-wide in-kernel devices: PIC (two chips), IOAPIC, PIT, kvmclock.
struct VmState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint32_t pad = 0;
  kvm_irqchip pic_master;
  kvm_irqchip pic_slave;
  kvm_irqchip ioapic;
  kvm_pit_state2 pit;
  kvm_clock_data clock;
};

// The header of a saved machine state; vCPU states, the VM state and device
// states follow it in this order. The last part, the devices' variable-size
// states (today: virtio-net, with the frames it holds), is a u64 byte count
// and the bytes.
struct MachineStateHeader {
  static constexpr uint64_t kMagic = 0x5441545353534c48ull;  // "HLSSSTAT"
  static constexpr uint32_t kVersion = 2;
  uint64_t magic = kMagic;
  uint32_t version = kVersion;
  uint32_t vcpus = 0;
  uint64_t version_tag = 0;  // the checkpoint version this state belongs to
  uint64_t total_bytes = 0;
};

// Byte offsets of the parts of a saved state with `vcpus` vCPUs.
struct StateLayout {
  uint64_t vcpu(unsigned i) const { return sizeof(MachineStateHeader) + uint64_t(i) * sizeof(VcpuState); }
  uint64_t vm(unsigned vcpus) const { return vcpu(vcpus); }
  uint64_t serial(unsigned vcpus) const { return vm(vcpus) + sizeof(VmState); }
  uint64_t devices(unsigned vcpus) const { return serial(vcpus) + sizeof(SerialState); }
  // The size with `device_bytes` of variable device state.
  uint64_t total(unsigned vcpus, uint64_t device_bytes = 0) const { return devices(vcpus) + 8 + device_bytes; }
};

// The MSRs a checkpoint saves, among those KVM reports (probed once).
std::vector<uint32_t> msrs_to_save(int kvm_fd);

// Reads / writes one vCPU's state through KVM ioctls. Throws Error.
// `synced`, if given, supplies regs, sregs and events (KVM_CAP_SYNC_REGS),
// saving three ioctls.
void save_vcpu(int vcpu_fd, unsigned index, const std::vector<uint32_t>& msrs, VcpuState& out,
               const kvm_sync_regs* synced = nullptr);
void load_vcpu(int vcpu_fd, const VcpuState& in);
// Names the registers that differ, with both values (for a torn-restore report).
std::string regs_difference(const kvm_regs& want, const kvm_regs& got);

// Reads / writes the VM-wide in-kernel device state. Throws Error.
void save_vm(int vm_fd, VmState& out);
void load_vm(int vm_fd, const VmState& in);

}  // namespace hsls::ckpt
