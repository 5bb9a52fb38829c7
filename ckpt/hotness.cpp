#include "ckpt/hotness.h"

#include <algorithm>

namespace hsls::ckpt {

HotnessTracker::HotnessTracker(uint64_t pages, unsigned history, unsigned threshold) : bits_(pages) {
  set_tuning(history, threshold);
}

void HotnessTracker::set_tuning(unsigned history, unsigned threshold) {
  history = std::clamp(history, 1u, 8u);
  mask_ = uint8_t((1u << history) - 1);
  threshold_ = std::clamp(threshold, 1u, history);
}

unsigned HotnessTracker::weight(uint64_t page) const { return unsigned(__builtin_popcount(bits_[page] & mask_)); }

bool HotnessTracker::is_hot(uint64_t page) const { return page < bits_.size() && weight(page) >= threshold_; }

void HotnessTracker::record_epoch(const std::vector<uint64_t>& dirty) {
  // Age every tracked page; forget those whose history ran out.
  std::vector<uint64_t> still;
  still.reserve(tracked_.size() + dirty.size());
  for (uint64_t p : tracked_) {
    bits_[p] = uint8_t((bits_[p] << 1) & mask_);
    if (bits_[p]) still.push_back(p);
  }
  for (uint64_t p : dirty) {
    if (p >= bits_.size()) continue;
    if (!bits_[p]) still.push_back(p);
    bits_[p] |= 1;
  }
  tracked_.swap(still);
  hot_.clear();
  for (uint64_t p : tracked_)
    if (weight(p) >= threshold_) hot_.push_back(p);
  std::sort(hot_.begin(), hot_.end());
}

}  // namespace hsls::ckpt
