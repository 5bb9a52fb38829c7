// Whether a precopy pays. Copying ahead of the pause helps only if the
// pages copied are not written again before it: a workload that rewrites
// its whole dirty set every epoch (memstress at 1 ms) makes each precopy a
// harvest (the vCPU stopped, its TLB's write rights revoked) and a copy
// for nothing. After each checkpoint the pacer hears how many of the
// precopied pages the pause did not have to copy again; when that is under
// a quarter, the next precopies are skipped, twice as many each time (up
// to kMaxBackoff), and one that pays again ends the backoff.
#pragma once
#include <atomic>
#include <cstdint>

namespace hsls::ckpt {

class PrecopyPacer {
 public:
  static constexpr unsigned kMaxBackoff = 64;
  // Mid-epoch: whether to precopy now (false counts one skipped).
  bool take_precopy();
  // After the checkpoint that followed a precopy: `precopied` pages were
  // copied ahead, `saved` of them the pause did not copy again.
  void checkpoint_after_precopy(uint64_t precopied, uint64_t saved);
  // (Any thread: for info ckpt.)
  uint64_t skipped() const { return skipped_.load(std::memory_order_relaxed); }
  unsigned backoff() const { return backoff_.load(std::memory_order_relaxed); }

 private:
  std::atomic<unsigned> backoff_{0};  // precopies to skip after the next one that does not pay
  unsigned skip_left_ = 0;            // still to skip now
  std::atomic<uint64_t> skipped_{0};
};

}  // namespace hsls::ckpt
