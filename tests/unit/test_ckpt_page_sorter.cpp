// The pause's page sort: the same result as std::sort + std::unique, for
// clustered pages (the bitmap), scattered ones (the fallback) and repeats,
// and nothing left behind for the next call.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "ckpt/page_sorter.h"

using hsls::ckpt::PageSorter;
using Pages = std::vector<uint64_t>;

namespace {

Pages reference(Pages p) {
  std::sort(p.begin(), p.end());
  p.erase(std::unique(p.begin(), p.end()), p.end());
  return p;
}

}  // namespace

TEST_CASE("ckpt page sorter: small and edge inputs") {
  PageSorter s(1 << 16);
  Pages p;
  s.sort_unique(p);
  CHECK(p.empty());
  p = {7};
  s.sort_unique(p);
  CHECK(p == Pages{7});
  p = {9, 9, 9};
  s.sort_unique(p);
  CHECK(p == Pages{9});
  p = {63, 64, 0, 65535, 127, 128, 64};  // word edges and the last page (spread: the fallback)
  s.sort_unique(p);
  CHECK(p == Pages{0, 63, 64, 127, 128, 65535});
  p = {130, 63, 64, 127, 128, 64, 0};  // word edges, clustered: the bitmap
  s.sort_unique(p);
  CHECK(p == Pages{0, 63, 64, 127, 128, 130});
}

TEST_CASE("ckpt page sorter: matches sort + unique on clustered and scattered pages, call after call") {
  const uint64_t pages = 1 << 16;
  PageSorter s(pages);
  std::mt19937_64 rng(42);
  for (int round = 0; round < 400; ++round) {
    size_t n = 1 + rng() % 300;
    uint64_t base = rng() % pages;
    uint64_t spread = round % 3 == 0 ? pages : 64 + rng() % 2000;  // scattered, or a working set
    Pages p;
    for (size_t i = 0; i < n; ++i) {
      uint64_t page = std::min(pages - 1, base + rng() % spread) % pages;
      p.push_back(page);
      if (rng() % 4 == 0) p.push_back(page);  // repeats, as a log may report
    }
    Pages want = reference(p);
    s.sort_unique(p);
    REQUIRE(p == want);
  }
}

TEST_CASE("ckpt page sorter: pages beyond its table still sort (the fallback)") {
  PageSorter s(128);
  Pages p = {1000, 5, 1000, 130, 4};
  s.sort_unique(p);
  CHECK(p == Pages{4, 5, 130, 1000});
  p = {3, 2, 1};  // and the table is still clear
  s.sort_unique(p);
  CHECK(p == Pages{1, 2, 3});
}
