#include "ckpt/page_sorter.h"

#include <algorithm>

namespace hsls::ckpt {

void PageSorter::sort_unique(std::vector<uint64_t>& pages) {
  if (pages.size() < 2) return;
  if (std::is_sorted(pages.begin(), pages.end())) {  // a bitmap's log: only repeats to drop
    pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
    return;
  }
  auto [lo, hi] = std::minmax_element(pages.begin(), pages.end());
  const uint64_t first = *lo / 64, last = *hi / 64;
  // Scanning the span must cost no more than a few words per page.
  if (last >= words_.size() || last - first + 1 > 4 * pages.size() + 16) {
    std::sort(pages.begin(), pages.end());
    pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
    return;
  }
  for (uint64_t page : pages) words_[page / 64] |= 1ull << (page % 64);
  size_t n = 0;  // never past a page read: each bit came from one
  for (uint64_t w = first; w <= last; ++w) {
    uint64_t bits = words_[w];
    if (!bits) continue;
    words_[w] = 0;
    for (; bits; bits &= bits - 1) pages[n++] = w * 64 + uint64_t(__builtin_ctzll(bits));
  }
  pages.resize(n);
}

}  // namespace hsls::ckpt
