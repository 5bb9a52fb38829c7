// Per-page dirty history: which pages count as hot, how they cool down and
// are forgotten, and the clamping of the tunables.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ckpt/hotness.h"

using hsls::ckpt::HotnessTracker;
using Pages = std::vector<uint64_t>;

TEST_CASE("ckpt hotness: a page dirty in >= threshold of the last history epochs is hot") {
  HotnessTracker t(100, 4, 2);
  CHECK(t.hot_pages().empty());
  CHECK(t.tracked() == 0);
  t.record_epoch({5, 6});
  CHECK_FALSE(t.is_hot(5));  // once is not enough
  CHECK(t.hot_pages().empty());
  CHECK(t.tracked() == 2);
  t.record_epoch({5});
  CHECK(t.is_hot(5));
  CHECK_FALSE(t.is_hot(6));
  CHECK(t.hot_pages() == Pages{5});
  // Not consecutive: 6 dirty in epochs 1 and 3 of the window.
  t.record_epoch({6});
  CHECK(t.is_hot(6));
  CHECK(t.hot_pages() == Pages{5, 6});
  CHECK(t.tracked() == 2);
}

TEST_CASE("ckpt hotness: dirty epochs outside the window do not count") {
  HotnessTracker t(10, 3, 2);
  t.record_epoch({1});
  t.record_epoch({});
  t.record_epoch({});
  // Window is now [clean, clean, dirty]; epoch 1 falls out with the next one.
  t.record_epoch({1});
  CHECK_FALSE(t.is_hot(1));
  CHECK(t.hot_pages().empty());
}

TEST_CASE("ckpt hotness: a hot page cools after enough clean epochs and is then forgotten") {
  HotnessTracker t(64, 4, 2);
  t.record_epoch({7});
  t.record_epoch({7});
  REQUIRE(t.is_hot(7));
  // bits 0011 -> 0110 -> 1100: still 2 dirty in the window.
  t.record_epoch({});
  CHECK(t.is_hot(7));
  t.record_epoch({});
  CHECK(t.is_hot(7));
  CHECK(t.hot_pages() == Pages{7});
  // -> 1000: cold, but still tracked.
  t.record_epoch({});
  CHECK_FALSE(t.is_hot(7));
  CHECK(t.hot_pages().empty());
  CHECK(t.tracked() == 1);
  // -> 0000: forgotten.
  t.record_epoch({});
  CHECK(t.tracked() == 0);
  CHECK_FALSE(t.is_hot(7));
}

TEST_CASE("ckpt hotness: tracked() follows the working set back to 0") {
  HotnessTracker t(1000, 8, 3);
  Pages ws;
  for (uint64_t p = 0; p < 1000; p += 7) ws.push_back(p);
  for (int e = 0; e < 5; ++e) t.record_epoch(ws);
  CHECK(t.tracked() == ws.size());
  CHECK(t.hot_pages() == ws);
  Pages half(ws.begin(), ws.begin() + long(ws.size() / 2));
  for (int e = 0; e < 8; ++e) t.record_epoch(half);
  CHECK(t.tracked() == half.size());  // the other half aged out after 8 clean epochs
  CHECK(t.hot_pages() == half);
  for (int e = 0; e < 7; ++e) t.record_epoch({});
  CHECK(t.tracked() == half.size());
  t.record_epoch({});
  CHECK(t.tracked() == 0);
  CHECK(t.hot_pages().empty());
}

TEST_CASE("ckpt hotness: hot_pages is sorted and free of duplicates") {
  HotnessTracker t(500, 2, 1);
  t.record_epoch({400, 3, 250, 17});
  t.record_epoch({17, 499, 0, 400});
  t.record_epoch({250, 17, 1});
  const Pages& hot = t.hot_pages();
  CHECK(std::is_sorted(hot.begin(), hot.end()));
  CHECK(std::adjacent_find(hot.begin(), hot.end()) == hot.end());
  CHECK(hot == Pages{0, 1, 17, 250, 400, 499});
  CHECK(t.tracked() == hot.size());

  // A page dirty in every epoch with a one-epoch window is listed once.
  HotnessTracker one(10, 1, 1);
  for (int e = 0; e < 5; ++e) {
    one.record_epoch({9, 2});
    CHECK(one.hot_pages() == Pages{2, 9});
    CHECK(one.tracked() == 2);
  }
}

TEST_CASE("ckpt hotness: out-of-range page numbers are ignored") {
  HotnessTracker t(16, 4, 1);
  t.record_epoch({16, 17, 1000, UINT64_MAX, 3});
  CHECK(t.tracked() == 1);
  CHECK(t.hot_pages() == Pages{3});
  CHECK_FALSE(t.is_hot(16));
  CHECK_FALSE(t.is_hot(UINT64_MAX));
  HotnessTracker none(0, 4, 1);
  none.record_epoch({0, 1});
  CHECK(none.tracked() == 0);
  CHECK_FALSE(none.is_hot(0));
}

TEST_CASE("ckpt hotness: set_tuning clamps history to 1-8 and threshold to 1-history") {
  SUBCASE("threshold 0 means 1: untouched pages are never hot") {
    HotnessTracker t(8, 4, 0);
    CHECK_FALSE(t.is_hot(0));
    t.record_epoch({2});
    CHECK(t.is_hot(2));
    CHECK_FALSE(t.is_hot(3));
    CHECK(t.hot_pages() == Pages{2});
  }
  SUBCASE("threshold above history means history") {
    HotnessTracker t(8, 3, 10);
    t.record_epoch({1});
    t.record_epoch({1});
    CHECK_FALSE(t.is_hot(1));
    t.record_epoch({1});
    CHECK(t.is_hot(1));  // dirty in all 3 of 3
    t.record_epoch({});
    CHECK_FALSE(t.is_hot(1));
  }
  SUBCASE("history 0 means 1") {
    HotnessTracker t(8, 0, 1);
    t.record_epoch({4});
    CHECK(t.is_hot(4));
    t.record_epoch({});
    CHECK_FALSE(t.is_hot(4));
    CHECK(t.tracked() == 0);
  }
  SUBCASE("history above 8 means 8") {
    HotnessTracker t(8, 100, 1);
    t.record_epoch({5});
    for (int e = 0; e < 7; ++e) t.record_epoch({});
    CHECK(t.is_hot(5));  // dirty 8 epochs ago, still in the window
    CHECK(t.tracked() == 1);
    t.record_epoch({});
    CHECK_FALSE(t.is_hot(5));
    CHECK(t.tracked() == 0);
  }
  SUBCASE("retuning a running tracker") {
    HotnessTracker t(8, 8, 4);
    for (int e = 0; e < 3; ++e) t.record_epoch({6});
    CHECK_FALSE(t.is_hot(6));
    t.set_tuning(8, 3);
    CHECK(t.is_hot(6));
    t.set_tuning(2, 2);  // only the last two epochs count now
    CHECK(t.is_hot(6));
    t.record_epoch({});
    CHECK_FALSE(t.is_hot(6));
    t.record_epoch({});
    CHECK(t.tracked() == 0);
  }
}

TEST_CASE("ckpt hotness: an unsorted epoch with repeats counts once per page; hot pages come out sorted") {
  HotnessTracker t(100, 4, 2);
  t.record_epoch({40, 3, 17, 3, 99, 40});
  CHECK(t.tracked() == 4);
  t.record_epoch({99, 17, 3, 60, 3});
  CHECK(t.tracked() == 5);
  CHECK(t.hot_pages() == Pages{3, 17, 99});
  t.record_epoch({60, 40});
  CHECK(t.hot_pages() == Pages{3, 17, 40, 60, 99});  // 40: epochs 1 and 3; 60: 2 and 3
  t.record_epoch({200, 5});  // beyond the tracker's pages: ignored
  CHECK(t.tracked() == 6);
  CHECK_FALSE(t.is_hot(200));
}

TEST_CASE("ckpt hotness: clear forgets every page's history; recording starts afresh") {
  HotnessTracker t(100, 4, 2);
  t.record_epoch({1, 2, 3});
  t.record_epoch({1, 2});
  REQUIRE(t.hot_pages() == Pages{1, 2});
  t.clear();
  CHECK(t.tracked() == 0);
  CHECK(t.hot_pages().empty());
  CHECK_FALSE(t.is_hot(1));
  t.record_epoch({1});
  CHECK_FALSE(t.is_hot(1));  // one epoch of history, not three
  t.record_epoch({1});
  CHECK(t.is_hot(1));
  CHECK(t.tracked() == 1);
}

TEST_CASE("ckpt hotness: unwritten_for answers only for epochs it recorded") {
  HotnessTracker t(100, 4, 2);
  CHECK_FALSE(t.unwritten_for(1, 1));  // nothing recorded: unknown
  t.record_epoch({1});
  t.record_epoch({});
  CHECK(t.recorded() == 2);
  CHECK(t.unwritten_for(1, 1));
  CHECK_FALSE(t.unwritten_for(1, 2));  // written two epochs ago
  CHECK(t.unwritten_for(2, 2));        // never written, both epochs recorded
  CHECK_FALSE(t.unwritten_for(2, 3));  // a third epoch back was not recorded
  CHECK_FALSE(t.unwritten_for(2, 0));
  t.record_epoch({});
  t.record_epoch({});
  t.record_epoch({});
  CHECK(t.recorded() == 4);            // no further back than the history
  CHECK(t.unwritten_for(1, 4));        // epoch 1 fell out of the 4-epoch window
  CHECK_FALSE(t.unwritten_for(1, 5));
  t.clear();                           // a switch of policy: history gone
  CHECK_FALSE(t.unwritten_for(2, 1));
  t.record_epoch({});
  t.record_epoch({});
  t.set_tuning(8, 2);                  // a longer history: the dropped bits are unknown
  CHECK(t.recorded() == 0);
  CHECK_FALSE(t.unwritten_for(2, 1));
  t.record_epoch({});
  CHECK(t.unwritten_for(2, 1));
  t.set_tuning(8, 3);                  // the same length: nothing lost
  CHECK(t.recorded() == 1);
}
