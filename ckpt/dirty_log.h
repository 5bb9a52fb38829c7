// KVM's dirty log over guest RAM, in manual-protect mode
// (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2): fetch the bitmap of pages the guest
// wrote since the last fetch, then clear exactly those bits, which
// re-arms tracking for them.
#pragma once
#include <cstdint>
#include <vector>

#include "vmm/core/guest_memory.h"

namespace hsls::ckpt {

class DirtyLog {
 public:
  // `ranges` are the RAM slots in slot order (slot i = ranges[i]).
  DirtyLog(int vm_fd, const std::vector<RamRange>& ranges);

  // Appends the page numbers (RAM page index, 0-based across slots) written
  // since the last call to `out`, and re-arms tracking for them.
  void collect(std::vector<uint64_t>& out);

 private:
  int vm_fd_;
  std::vector<RamRange> ranges_;
  std::vector<std::vector<uint64_t>> bitmaps_;
};

// Enables manual dirty-log protection on the VM if KVM offers it.
// Returns false if not (then every fetch also clears, which is fine too).
bool enable_manual_dirty_log(int vm_fd, int kvm_capability_value);

}  // namespace hsls::ckpt
