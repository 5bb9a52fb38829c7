#include "ckpt/hot_lease.h"

namespace hsls::ckpt {

void HotLease::update(uint64_t epoch, const std::vector<uint64_t>& dirty, const HotnessTracker& hotness,
                      unsigned epochs, DirtyLog& log) {
  if (epochs == 0 || !log.can_untrack()) {
    end_all(log);
    return;
  }
  // Leases end first, so that a page whose lease ends is re-armed (observed
  // for an epoch) before it can get a new one.
  std::vector<uint64_t> still;
  still.reserve(leased_.size() + dirty.size());
  std::vector<uint64_t> ended;
  for (uint64_t p : leased_) {
    if (until_[p] <= epoch) {
      log.set_untracked(p, false);
      ended.push_back(p);
    } else {
      still.push_back(p);
    }
  }
  for (uint64_t p : dirty) {
    if (p >= until_.size() || until_[p] || !hotness.is_hot(p)) continue;
    until_[p] = epoch + epochs;
    log.set_untracked(p, true);
    still.push_back(p);
  }
  for (uint64_t p : ended) until_[p] = 0;
  leased_.swap(still);
}

void HotLease::end_all(DirtyLog& log) {
  for (uint64_t p : leased_) {
    log.set_untracked(p, false);
    until_[p] = 0;
  }
  leased_.clear();
}

}  // namespace hsls::ckpt
