// Which guest pages were written since the last look: KVM's dirty log, in
// one of its two forms (measured side by side in docs/checkpointing.md):
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

#include "vmm/core/guest_memory.h"
#include "vmm/kvm/kvm_api.h"

namespace hsls::ckpt {

class DirtyLog {
 public:
  virtual ~DirtyLog() = default;
  // Appends the page numbers (RAM page index, 0-based across slots) written
  // since the last call to `out` (possibly with repeats), and re-arms tracking for them.
  virtual void collect(std::vector<uint64_t>& out) = 0;
  // A vCPU stopped because its dirty ring is full (its thread): make room.
  virtual void drain_full() {}
  // Whether set_untracked() works: the bitmap can leave pages out of the
  // re-arming, the ring cannot (KVM re-arms its entries in order).
  virtual bool can_untrack() const { return false; }
  // Leaves `page` out of the re-arming from the next collect() on (or puts
  // it back): KVM keeps it writable, so writing it costs the guest no fault,
  // and collect() reports it every time, as if it were always written.
  virtual void set_untracked(uint64_t /*page*/, bool /*untracked*/) {}
};

class DirtyBitmap : public DirtyLog {
 public:
  // `ranges` are the RAM slots in slot order (slot i = ranges[i]).
  DirtyBitmap(int vm_fd, const std::vector<RamRange>& ranges);
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

}  // namespace hsls::ckpt
