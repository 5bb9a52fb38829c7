// How the checkpointer keeps a page it has not backed up from being
// written after a checkpoint: the kernel's write protection (userfaultfd:
// any writer blocks until the fault thread backs the page up) or the VMM's
// write guard (every writer asks first, and backs the page up on its own
// thread: guard_protection.h). Protection changes only during a pause and
// when a page has been backed up.
#pragma once
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
  // Waits up to `timeout_ms` (-1: forever) for a write to a protected page
  // that the fault thread must serve; returns its page, kTimedOut, or
  // nullopt once `stop_fd` becomes readable.
  static constexpr uint64_t kTimedOut = ~0ull;
  virtual std::optional<uint64_t> next_fault(int stop_fd, int timeout_ms) = 0;
};

}  // namespace hsls::ckpt
