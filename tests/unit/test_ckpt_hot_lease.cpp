// Hot leases: which pages leave KVM's dirty tracking, for how long, that a
// page whose lease ends is observed before a new lease, and that leases of a
// page that stays hot grow.
#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <vector>

#include "ckpt/hot_lease.h"

using hsls::ckpt::DirtyLog;
using hsls::ckpt::HotLease;
using hsls::ckpt::HotnessTracker;
using Pages = std::vector<uint64_t>;

namespace {

// Records which pages the lease keeps untracked.
class FakeLog : public DirtyLog {
 public:
  explicit FakeLog(bool can) : can_(can) {}
  const char* name() const override { return "fake"; }
  void collect(std::vector<uint64_t>&) override {}
  bool can_untrack() const override { return can_; }
  void set_untracked(uint64_t page, bool on) override {
    if (on) untracked.insert(page);
    else untracked.erase(page);
  }
  std::set<uint64_t> untracked;

 private:
  bool can_;
};

// A tracker, a lease table and a log, stepped one checkpoint at a time.
struct Rig {
  Rig(uint64_t pages, unsigned history, unsigned threshold, unsigned lease_epochs)
      : hot(pages, history, threshold), lease(pages), epochs(lease_epochs) {}
  void step(const Pages& dirty) {
    ++epoch;
    hot.record_epoch(dirty);
    lease.update(epoch, dirty, hot, epochs, log);
  }
  HotnessTracker hot;
  HotLease lease;
  FakeLog log{true};
  unsigned epochs;
  uint64_t epoch = 0;
};

}  // namespace

TEST_CASE("ckpt hot lease: a written hot page is leased for N epochs, then observed, then leased for 2N") {
  Rig r(64, 4, 2, 3);
  auto& lease = r.lease;
  auto& log = r.log;
  auto step = [&](const Pages& dirty) { r.step(dirty); };
  step({7, 9});  // written once: not hot yet
  CHECK(log.untracked.empty());
  step({7});  // hot (2 of 4) and written: leased
  CHECK(log.untracked == std::set<uint64_t>{7});
  CHECK(lease.is_leased(7));
  CHECK(lease.leased() == 1);
  // While leased the dirty log reports it every epoch.
  step({7});
  step({7});
  CHECK(lease.is_leased(7));
  step({7});  // epoch 5 = 2 + 3: the lease ends, even though it is reported and hot
  CHECK_FALSE(lease.is_leased(7));
  CHECK(log.untracked.empty());
  step({7});  // the bit set during the lease, reported once more as it is re-armed: no lease on that
  CHECK_FALSE(lease.is_leased(7));
  CHECK(log.untracked.empty());
  step({7});  // written after the re-arm, still hot: a lease twice as long
  CHECK(lease.is_leased(7));
  CHECK(log.untracked == std::set<uint64_t>{7});
  CHECK(lease.length(7) == 6);
}

TEST_CASE("ckpt hot lease: renewed leases double up to 16 times the base; a page that cools starts over") {
  Rig r(8, 2, 1, 2);
  auto& lease = r.lease;
  auto step = [&](const Pages& dirty) { r.step(dirty); };
  std::vector<uint64_t> lengths;
  for (int i = 0; i < 200; ++i) {
    bool was = lease.is_leased(3);
    step({3});  // written in every epoch
    if (!was && lease.is_leased(3)) lengths.push_back(lease.length(3));
  }
  REQUIRE(lengths.size() >= 6);
  CHECK(lengths[0] == 2);
  CHECK(lengths[1] == 4);
  CHECK(lengths[2] == 8);
  CHECK(lengths[3] == 16);
  CHECK(lengths[4] == 32);
  CHECK(lengths[5] == 32);  // 2 << kMaxDoublings
  // Let the lease run out, then the page is not written in its observation epoch.
  while (lease.is_leased(3)) step({3});
  step({3});  // the stale report
  step({});   // observed: not written
  step({3});  // written again later: hot (1 of 2), a new lease of the base length
  CHECK(lease.is_leased(3));
  CHECK(lease.length(3) == 2);
}

TEST_CASE("ckpt hot lease: cold pages, unwritten hot pages and out-of-range pages get no lease") {
  HotnessTracker hot(16, 8, 3);
  HotLease lease(16);
  FakeLog log(true);
  hot.record_epoch({1, 2});
  hot.record_epoch({1, 2});
  hot.record_epoch({1});
  // 1 is hot (3 of 8); 2 is not (2 of 8); 40 is beyond RAM.
  lease.update(3, {2, 40}, hot, 10, log);
  CHECK(log.untracked.empty());
  lease.update(3, {1, 2}, hot, 10, log);
  CHECK(log.untracked == std::set<uint64_t>{1});
  CHECK_FALSE(lease.is_leased(40));
}

TEST_CASE("ckpt hot lease: length 0, a log that cannot untrack, and end_all return every page") {
  HotnessTracker hot(16, 2, 1);
  HotLease lease(16);
  FakeLog log(true);
  hot.record_epoch({3, 4});
  lease.update(1, {3, 4}, hot, 5, log);
  CHECK(lease.leased() == 2);
  lease.update(2, {3, 4}, hot, 0, log);
  CHECK(lease.leased() == 0);
  CHECK(log.untracked.empty());
  lease.update(3, {3}, hot, 5, log);
  CHECK(lease.leased() == 1);
  lease.end_all(log);
  CHECK(log.untracked.empty());
  CHECK_FALSE(lease.is_leased(3));

  FakeLog ring(false);
  HotLease none(16);
  none.update(1, {3, 4}, hot, 5, ring);
  CHECK(none.leased() == 0);
  CHECK(ring.untracked.empty());
}
