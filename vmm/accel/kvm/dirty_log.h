// KVM's dirty log, in one of its two forms (measured side by side in docs/checkpointing.md):
//  - the bitmap in manual-protect mode (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2):
//    fetch one bit per page of each slot, then clear exactly those bits,
//    which re-arms tracking for them;
//  - the per-vCPU dirty ring (KVM_CAP_DIRTY_LOG_RING[_ACQ_REL]): KVM appends
//    the pages each vCPU writes to a shared ring; we read the new entries,
//    mark them harvested and ask KVM to re-arm them (KVM_RESET_DIRTY_RINGS).
//    Cost grows with pages written, not with memory size.
#pragma once
#include <cstdint>
#include <mutex>
#include <vector>

#include "vmm/accel/dirty_log.h"
#include "vmm/accel/kvm/kvm_api.h"
#include "vmm/core/guest_memory.h"

namespace hsls::accel::kvm {


class DirtyBitmap : public DirtyLog {
 public:
  // `ranges` are the RAM slots in slot order (slot i = ranges[i]).
  DirtyBitmap(int vm_fd, const std::vector<RamRange>& ranges);
  const char* name() const override { return "bitmap"; }
  void collect(std::vector<uint64_t>& out) override;
  bool can_untrack() const override { return true; }
  void set_untracked(uint64_t page, bool untracked) override;

 private:
  int vm_fd_;
  std::vector<RamRange> ranges_;
  std::vector<std::vector<uint64_t>> bitmaps_;
  std::vector<std::vector<uint64_t>> untracked_;  // per slot, one bit per page: never cleared
};

class DirtyRing : public DirtyLog {
 public:
  // Maps the ring of each vCPU (`vcpu_fds`), `ring_bytes` each, as enabled by enable_dirty_ring().
  DirtyRing(int vm_fd, const std::vector<RamRange>& ranges, const std::vector<int>& vcpu_fds, uint32_t ring_bytes);
  ~DirtyRing() override;
  const char* name() const override { return "ring"; }
  void collect(std::vector<uint64_t>& out) override;
  // Harvests now and keeps the pages for collect().
  void drain_full() override;

 private:
  void harvest(std::vector<uint64_t>& out);

  int vm_fd_;
  std::vector<RamRange> ranges_;
  uint32_t entries_;
  size_t map_bytes_;
  std::vector<kvm_dirty_gfn*> rings_;
  std::vector<uint32_t> fetch_;
  std::mutex mu_;
  std::vector<uint64_t> pending_;  // harvested on a full ring, not yet collected
};

// Enables manual dirty-log protection on the VM if KVM offers it.
// Returns false if not (then every fetch also clears, which is fine too).
bool enable_manual_dirty_log(int vm_fd, int kvm_capability_value);

// Enables the dirty ring on a VM that has no vCPUs yet, at most
// `want_bytes` per vCPU; returns the ring size in bytes, 0 if KVM has no
// ring. Throws Error if KVM refuses to enable the one it offers.
uint32_t enable_dirty_ring(int vm_fd, uint32_t want_bytes);

}  // namespace hsls::accel::kvm
