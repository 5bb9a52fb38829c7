// Which pages are hot: for each page, a shift register of "written in
// epoch" bits over the last `history` epochs. Only pages with some history
// are visited per epoch, so the cost follows the working set, not RAM size.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ckpt/zeroed_vector.h"

namespace hsls::ckpt {

class HotnessTracker {
 public:
  HotnessTracker(uint64_t pages, unsigned history, unsigned threshold);

  // Shifts in one epoch: `dirty` lists the pages written in it (any order;
  // sorted is fastest). Afterwards hot_pages() reflects the new history.
  void record_epoch(const std::vector<uint64_t>& dirty);
  // Pages written in at least `threshold` of the last `history` epochs.
  const std::vector<uint64_t>& hot_pages() const { return hot_; }
  bool is_hot(uint64_t page) const;
  void set_tuning(unsigned history, unsigned threshold);
  // Forgets every page's history.
  void clear();
  // Pages with any history (tracked).
  size_t tracked() const { return tracked_.size(); }
  // Whether the page was written in none of the last `epochs` epochs:
  // false unless every one of them was recorded (since the last clear or
  // change of history length) and the history reaches that far back.
  bool unwritten_for(uint64_t page, uint64_t epochs) const;
  // Epochs recorded since the last clear or change of history length (up to the history length).
  unsigned recorded() const { return recorded_; }

 private:
  unsigned weight(uint64_t page) const;
  ZeroedVector<uint8_t> bits_;      // per page; bit 0 = the latest epoch
  std::vector<uint64_t> tracked_;   // pages with nonzero bits, sorted
  std::vector<uint64_t> hot_;
  std::vector<uint64_t> still_, sorted_;  // scratch
  uint8_t mask_ = 0;
  unsigned history_ = 0;
  unsigned threshold_;
  unsigned recorded_ = 0;
};

}  // namespace hsls::ckpt
