#include "ckpt/hot_lease.h"

namespace hsls::ckpt {

void HotLease::update(uint64_t epoch, const std::vector<uint64_t>& dirty, const HotnessTracker& hotness,
                      unsigned epochs, DirtyLog& log) {
  if (epochs == 0 || !log.can_untrack()) {
    end_all(log);
    return;
  }
  // Leases end first, so that a page whose lease ends is re-armed and
  // observed before it can get a new one.
  std::vector<uint64_t> still;
  still.reserve(leased_.size() + dirty.size());
  std::vector<uint64_t> ended;
  for (uint64_t p : leased_) {
    if (until_[p] <= epoch) {
      log.set_untracked(p, false);
      ended_[p] = epoch;
      ended.push_back(p);
    } else {
      still.push_back(p);
    }
  }
  const uint64_t longest = uint64_t(epochs) << kMaxDoublings;
  for (uint64_t p : dirty) {
    if (p >= until_.size() || until_[p] || !hotness.is_hot(p)) continue;
    // Reported the epoch after its lease ended: that is the bit set during
    // the lease, not a new write; the next report will tell.
    bool observed = ended_[p] != 0;
    if (observed && ended_[p] + 1 == epoch) continue;
    bool renewed = observed && ended_[p] + 2 == epoch;
    length_[p] = uint32_t(renewed ? std::min<uint64_t>(2 * uint64_t(length_[p]), longest) : epochs);
    until_[p] = epoch + length_[p];
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
