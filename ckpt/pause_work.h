// The work of a stop-the-world pause that can be shared: write-protecting
// ranges of pages and copying pages to their backups. The two are
// independent (a page is either kept writable and copied, or protected), so
// they run side by side.
//
// Who takes what: the leader copies first, then protects what is left
// (or, with a pause copier, protects first); a parked vCPU protects first,
// then copies; a spare helper only copies. The copy list and its cursors
// live in a MAP_SHARED block, so the spare helper may be a forked process
// (ckpt/pause_copier.h): write-protecting changes the VMM's page tables and
// makes every CPU running a VMM thread take a TLB-flush IPI, so a copier in
// another address space copies undisturbed while the leader protects.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "ckpt/page_protection.h"
#include "nvm/store.h"

namespace hsls::ckpt {

class PauseWork {
 public:
  enum class Role { vcpu, spare };  // the leader calls copy() and protect()
  using Range = std::pair<uint64_t, uint64_t>;  // (first page, count)

  PauseWork(nvm::Store& store, PageProtection& protection);
  ~PauseWork();
  PauseWork(const PauseWork&) = delete;
  PauseWork& operator=(const PauseWork&) = delete;

  // Leader: publishes the work of pause `gen` (the ranges must stay alive
  // until finish(); the backups to fill, by number (nvm::Layout), are
  // copied into the shared block); others calling help(gen, ...) take part.
  // gen 0: the leader works alone.
  void publish(uint64_t gen, const std::vector<Range>& protect, const std::vector<uint64_t>& backups);
  // Takes work of pause `gen`, if it is published, until none is left that
  // `role` takes. Returns whether there was any.
  bool help(uint64_t gen, Role role);
  // The pause whose work is published now (0: none).
  uint64_t published_gen() const;
  bool published(uint64_t gen) const { return gen != 0 && published_gen() == gen; }
  // Leader: copies what is left and waits until every page is copied and
  // fenced, whoever copied it. If `helper_alive` says the spare helper died
  // while the leader waited, the leader copies every page again itself.
  void copy(const std::function<bool()>& helper_alive = {});
  // Leader: protects what is left and waits until every range is protected.
  void protect();
  // Leader: finishes whatever is left and unpublishes. Throws Error if a
  // write-protect failed (on any thread).
  void finish();
  // The same, quietly, on any way out of the pause: nothing may still use
  // the lists afterwards.
  void drain() noexcept;

 private:
  struct Shared;
  void copy_listed(size_t begin, size_t end);
  bool take_copies();
  bool take_protects();
  void wait_protects() const;
  void copy_all_again();

  nvm::Store& store_;
  PageProtection& protection_;
  Shared* s_;                 // MAP_SHARED: cursors, counts and the copy list
  size_t shared_bytes_ = 0;
  const Range* ranges_ = nullptr;  // the leader's process only: protects are never taken elsewhere
};

}  // namespace hsls::ckpt
