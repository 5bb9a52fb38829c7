// Hot pages leased out of KVM's dirty tracking.
//
// Re-arming dirty tracking for a page makes the guest's next write to it a
// KVM write fault (several microseconds on this host; the dominant cost of
// frequent checkpoints). A page written in nearly every epoch is cheaper to
// copy at every checkpoint (~0.5 us) without tracking it. So a hot page that
// was written gets a lease of `epochs` checkpoints during which its tracking
// is not re-armed: the dirty log then reports it at every checkpoint, and the
// policy copies and keeps it writable like any written page. When the lease
// ends the page is re-armed and observed: its bit, set all through the lease,
// is reported once more and cleared at the next checkpoint, so the one after
// that tells whether the guest really wrote it. Written and still hot, it
// gets a lease twice as long as the last (up to 16 times `epochs`): a page
// that stays hot costs one fault per lease, and ever fewer. Reporting a page
// that was not written is always safe.
#pragma once
#include <cstdint>
#include <vector>

#include "vmm/accel/dirty_log.h"
#include "ckpt/hotness.h"
#include "ckpt/zeroed_vector.h"

namespace hsls::ckpt {

using accel::DirtyLog;

class HotLease {
 public:
  explicit HotLease(uint64_t pages) : until_(pages), ended_(pages), length_(pages) {}

  // After checkpoint `epoch` (its dirty set recorded in `hotness`): pages in
  // `dirty` that are hot and not leased start a lease of `epochs`; leases
  // that reach their end return their page to tracking. epochs == 0 ends all.
  void update(uint64_t epoch, const std::vector<uint64_t>& dirty, const HotnessTracker& hotness, unsigned epochs,
              DirtyLog& log);
  // Returns every leased page to tracking.
  void end_all(DirtyLog& log);
  // Pages leased now.
  size_t leased() const { return leased_.size(); }
  bool is_leased(uint64_t page) const { return page < until_.size() && until_[page] != 0; }
  // The length of a page's current (or last) lease, in epochs.
  uint64_t length(uint64_t page) const { return page < length_.size() ? length_[page] : 0; }
  static constexpr unsigned kMaxDoublings = 4;

 private:
  ZeroedVector<uint64_t> until_;   // per page: the epoch its lease ends at, 0 = not leased
  ZeroedVector<uint64_t> ended_;   // per page: the epoch its last lease ended at
  ZeroedVector<uint32_t> length_;  // per page: its last lease's length
  std::vector<uint64_t> leased_;  // pages with a lease
};

}  // namespace hsls::ckpt
