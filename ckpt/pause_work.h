// The work of a stop-the-world pause that can be shared: write-protecting
// ranges of pages and copying pages to their backups. The two are
// independent (a page is either kept writable and copied, or protected), so
// they run side by side: the leader copies while a parked vCPU or the
// pause assistant write-protects, each waiting in KVM's invalidation.
//
// Who takes what: the leader copies first, then protects what is left; a
// parked vCPU protects first, then copies; a spare thread (on a CPU no vCPU
// uses) only copies (see Checkpointer::share_copies).
#pragma once
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "ckpt/write_protect.h"
#include "nvm/store.h"

namespace hsls::ckpt {

class PauseWork {
 public:
  enum class Role { leader, vcpu, spare };
  using Range = std::pair<uint64_t, uint64_t>;  // (first page, count)

  PauseWork(nvm::Store& store, WriteProtect& wp) : store_(store), wp_(wp) {}

  // Leader: publishes the work of pause `gen` (the ranges and pages must
  // stay alive until protect() returns); threads calling help(gen, ...)
  // take part. gen 0: the leader works alone.
  void publish(uint64_t gen, const std::vector<Range>& protect, const std::vector<uint64_t>& copy, unsigned slot);
  // Takes work of pause `gen`, if it is published, until none is left that
  // `role` takes. Returns whether there was any.
  bool help(uint64_t gen, Role role);
  // Leader: copies what is left and waits until every page is copied and
  // fenced, whoever copied it.
  void copy();
  // Leader: protects what is left, waits until every range is protected
  // and unpublishes. Throws Error if a write-protect failed (any thread).
  void protect();
  // Leader, on any way out of the pause: finishes whatever is left, quietly
  // (nothing may still use the lists afterwards).
  void drain() noexcept;
  // Whether the work of pause `gen` is published and not yet finished.
  bool published(uint64_t gen) const { return gen != 0 && gen_.load(std::memory_order_acquire) == gen; }

 private:
  bool take_copies();
  bool take_protects();

  nvm::Store& store_;
  WriteProtect& wp_;
  std::atomic<uint64_t> gen_{0};
  const Range* ranges_ = nullptr;
  size_t range_count_ = 0;
  const uint64_t* pages_ = nullptr;
  size_t page_count_ = 0;
  unsigned slot_ = 0;
  std::atomic<size_t> next_range_{0}, next_page_{0};
  std::atomic<size_t> pages_done_{0}, ranges_done_{0};
  std::atomic<bool> failed_{false};
};

}  // namespace hsls::ckpt
