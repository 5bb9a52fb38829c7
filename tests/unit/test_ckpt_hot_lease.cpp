// Hot leases: which pages leave KVM's dirty tracking, for how long, and that
// a page whose lease ends is observed for an epoch before a new lease.
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

}  // namespace

TEST_CASE("ckpt hot lease: a written hot page is leased for N epochs, then observed once, then leased again") {
  HotnessTracker hot(64, 4, 2);
  HotLease lease(64);
  FakeLog log(true);
  uint64_t epoch = 0;
  auto step = [&](const Pages& dirty) {
    ++epoch;
    hot.record_epoch(dirty);
    lease.update(epoch, dirty, hot, 3, log);
  };
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
  step({7});  // re-armed, observed written again, still hot: a new lease
  CHECK(lease.is_leased(7));
  CHECK(log.untracked == std::set<uint64_t>{7});
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
