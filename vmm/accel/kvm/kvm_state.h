// Conversions between KVM's state structs (read and written with KVM's
// ioctls) and the backend-neutral saved state (accel::CpuState,
// platform::LapicState, platform::PlatformState). What KVM holds that the
// neutral state does not carry (kvmclock, PIT channels 1-2, AVX state) is
// not used by our guest; the PIT's count restarts when KVM loads it.
#pragma once
#include <cstdint>
#include <vector>

#include "vmm/accel/cpu_state.h"
#include "vmm/accel/kvm/kvm_api.h"
#include "vmm/platform/platform_state.h"

namespace hsls::accel::kvm {

// The MSRs a checkpoint saves, among those KVM reports (probed once).
std::vector<uint32_t> msrs_to_save(int kvm_fd);

// Reads one vCPU's state. `synced`, if given, supplies regs, sregs and
// events (KVM_CAP_SYNC_REGS), saving three ioctls. Throws Error.
void save_cpu(int vcpu_fd, unsigned index, const std::vector<uint32_t>& msrs, CpuState& out,
              const kvm_sync_regs* synced = nullptr);
// How KVM is given TR's type: busy (the neutral form; VMX's VM entry requires it,
// the SDM's "Checks on Guest Segment Registers") or available (see Kvm::tr_written_available).
enum class TrForm { busy, available };

// Writes the MSRs of `msrs` (those KVM reports) and throws if KVM takes fewer.
void load_cpu(int vcpu_fd, const CpuState& in, const std::vector<uint32_t>& msrs, TrForm tr = TrForm::busy);
void save_lapic(int vcpu_fd, platform::LapicState& out);
void load_lapic(int vcpu_fd, const platform::LapicState& in);

// Reads / writes the VM-wide in-kernel devices (PIC pair, IOAPIC, PIT). Throws Error.
void save_platform(int vm_fd, platform::PlatformState& out);
void load_platform(int vm_fd, const platform::PlatformState& in);

// Pure conversions (unit-tested round trips).
void to_neutral(const kvm_regs& r, const kvm_sregs& s, CpuState& out);
void from_neutral(const CpuState& in, kvm_regs& r, kvm_sregs& s, TrForm tr = TrForm::busy);
Segment to_neutral(const kvm_segment& s);
kvm_segment from_neutral(const Segment& s);

}  // namespace hsls::accel::kvm
