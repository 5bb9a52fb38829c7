// How the checkpointer keeps a page it has not backed up from being
// written after a checkpoint: the kernel's write protection (userfaultfd:
// any writer blocks until the fault thread backs the page up) or the VMM's
// write guard (every writer asks first, and backs the page up on its own
// thread: guard_protection.h). Protection changes only during a pause and
// when a page has been backed up.
#pragma once
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <optional>

namespace hsls::ckpt {

class PageProtection {
 public:
  virtual ~PageProtection() = default;
  // "userfaultfd" or "write-guard", for info ckpt.
  virtual const char* name() const = 0;
  // Protects / unprotects `count` pages from page `first` (RAM page index).
  // Unprotecting also lets blocked writers of those pages go on.
  virtual void protect(uint64_t first, uint64_t count) = 0;
  virtual void unprotect(uint64_t first, uint64_t count) = 0;
  // Lets writers blocked on a page that is already writable go on / all of them.
  virtual void wake(uint64_t /*page*/) {}
  virtual void wake_all() {}
  // Waits up to `timeout_ns` (-1: forever) for a write to a protected page
  // that the fault thread must serve; returns its page, kTimedOut, or
  // nullopt once `stop_fd` becomes readable. (Nanoseconds: a precopy is due
  // half-way through an epoch that may last 0.5 ms.)
  static constexpr uint64_t kTimedOut = ~0ull;
  static timespec poll_timeout(int64_t ns) {
    return timespec{time_t(std::max<int64_t>(ns, 0) / 1'000'000'000), long(std::max<int64_t>(ns, 0) % 1'000'000'000)};
  }
  virtual std::optional<uint64_t> next_fault(int stop_fd, int64_t timeout_ns) = 0;
};

}  // namespace hsls::ckpt
