#include "ckpt/hotness.h"

#include <algorithm>

namespace hsls::ckpt {

HotnessTracker::HotnessTracker(uint64_t pages, unsigned history, unsigned threshold) : bits_(pages) {
  set_tuning(history, threshold);
}

void HotnessTracker::set_tuning(unsigned history, unsigned threshold) {
  history = std::clamp(history, 1u, 8u);
  if (history != history_) recorded_ = 0;  // a shorter history dropped bits a longer one would need
  history_ = history;
  mask_ = uint8_t((1u << history) - 1);
  threshold_ = std::clamp(threshold, 1u, history);
}

void HotnessTracker::clear() {
  for (uint64_t page : tracked_) bits_[page] = 0;
  tracked_.clear();
  hot_.clear();
  recorded_ = 0;
}

unsigned HotnessTracker::weight(uint64_t page) const { return unsigned(__builtin_popcount(bits_[page] & mask_)); }

bool HotnessTracker::is_hot(uint64_t page) const { return page < bits_.size() && weight(page) >= threshold_; }

bool HotnessTracker::unwritten_for(uint64_t page, uint64_t epochs) const {
  if (epochs == 0 || epochs > recorded_ || page >= bits_.size()) return false;
  return (bits_[page] & ((1u << epochs) - 1)) == 0;
}

// One merge of the tracked pages (kept sorted) with the epoch's: each
// page's history shifts once, those that ran out are forgotten, and the hot
// list comes out sorted. This runs in the pause, just after the guest has
// evicted the VMM's data from the caches: one pass, no sort.
void HotnessTracker::record_epoch(const std::vector<uint64_t>& dirty_in) {
  const std::vector<uint64_t>* dirty = &dirty_in;
  if (!std::is_sorted(dirty_in.begin(), dirty_in.end())) {
    sorted_ = dirty_in;
    std::sort(sorted_.begin(), sorted_.end());
    dirty = &sorted_;
  }
  still_.clear();
  hot_.clear();
  size_t i = 0, j = 0;
  const size_t nt = tracked_.size(), nd = dirty->size();
  while (i < nt || j < nd) {
    uint64_t page;
    bool written = false;
    if (j == nd || (i < nt && tracked_[i] < (*dirty)[j])) {
      page = tracked_[i++];
    } else {
      page = (*dirty)[j++];
      written = true;
      if (i < nt && tracked_[i] == page) ++i;
      while (j < nd && (*dirty)[j] == page) ++j;
    }
    if (page >= bits_.size()) continue;
    uint8_t b = uint8_t(((bits_[page] << 1) | uint8_t(written)) & mask_);
    bits_[page] = b;
    if (!b) continue;
    still_.push_back(page);
    if (unsigned(__builtin_popcount(b)) >= threshold_) hot_.push_back(page);
  }
  tracked_.swap(still_);
  recorded_ = std::min(recorded_ + 1, history_);
}

}  // namespace hsls::ckpt
