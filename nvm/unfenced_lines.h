// The x86 persistency model under ADR, for the crash explorer: a store to
// NVM is durable only once its cache line was written back (flush) and a
// fence followed; a non-temporal copy once a fence followed. At a power
// failure every line stored since it was last durable may or may not have
// reached NVM, independently, at 64-byte granularity. This model remembers
// each such line's content before its first store and, when the power
// fails, decides line by line from a seeded generator whether the new
// bytes survive or the old ones come back. Off unless turned on
// (nvm::Persist::track_unfenced); the explorer turns it on under ADR.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>

namespace hsls::nvm {

class UnfencedLines {
 public:
  // What happens to a pending line at the failure: a seeded coin, or (for tests) always one way.
  enum class Policy { random, drop_all, keep_all };
  explicit UnfencedLines(uint64_t seed, Policy policy = Policy::random) : rng_(seed | 1), policy_(policy) {}

  // Before a store of [addr, addr+len) (`non_temporal`: a streaming copy).
  void before_store(const void* addr, size_t len, bool non_temporal);
  // The lines of [addr, addr+len) were written back.
  void flushed(const void* addr, size_t len);
  // A fence: written-back and streamed lines are durable.
  void fenced();
  // The power fails: each pending line keeps its new bytes or gets its old
  // ones back (in address order, so one seed gives one outcome). Returns
  // the lines reverted; the model is empty afterwards.
  size_t drop();

  size_t pending() const { return lines_.size(); }
  uint64_t tracked() const { return tracked_; }

 private:
  enum class State : uint8_t { stored, flushed, streamed };
  struct Line {
    std::array<uint8_t, 64> old;
    State state;
  };
  bool coin();

  std::map<uintptr_t, Line> lines_;  // by address
  uint64_t rng_;
  Policy policy_;
  uint64_t tracked_ = 0;
};

}  // namespace hsls::nvm
