// Hot pages leased out of KVM's dirty tracking.
//
// Re-arming dirty tracking for a page makes the guest's next write to it a
// KVM write fault (several microseconds on this host; the dominant cost of
// frequent checkpoints). A page written in nearly every epoch is cheaper to
// copy at every checkpoint (~0.5 us) without tracking it. So a hot page that
// was written gets a lease of `epochs` checkpoints during which its tracking
// is not re-armed: the dirty log then reports it at every checkpoint, and the
// policy copies and keeps it writable like any written page. When the lease
// ends the page is re-armed once and observed again; written and still hot,
// it gets a new lease. Reporting a page that was not written is always safe.
#pragma once
#include <cstdint>
#include <vector>

#include "ckpt/dirty_log.h"
#include "ckpt/hotness.h"

namespace hsls::ckpt {

class HotLease {
 public:
  explicit HotLease(uint64_t pages) : until_(pages, 0) {}

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

 private:
  std::vector<uint64_t> until_;   // per page: the epoch its lease ends at, 0 = not leased
  std::vector<uint64_t> leased_;  // pages with a lease
};

}  // namespace hsls::ckpt
