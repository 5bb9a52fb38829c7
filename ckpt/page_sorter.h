// Sorts a pause's page lists and drops repeats. The pause runs on caches
// the guest has just evicted, where a comparison sort of ~100 pages costs
// 2-3 us (10 ms epochs on this host). Pages written in one epoch usually
// cluster, so they go through a bitmap instead: set a bit per page, then
// read back the words between the least and the greatest. Pages spread
// wider than a few words each take std::sort.
#pragma once
#include <cstdint>
#include <vector>

#include "ckpt/zeroed_vector.h"

namespace hsls::ckpt {

class PageSorter {
 public:
  explicit PageSorter(uint64_t pages) : words_((pages + 63) / 64) {}

  // Sorts `pages` ascending, each page once.
  void sort_unique(std::vector<uint64_t>& pages);

 private:
  ZeroedVector<uint64_t> words_;  // all zero between calls
};

}  // namespace hsls::ckpt
