#include "ckpt/guard_protection.h"

#include <poll.h>

#include <cerrno>

#include "vmm/core/error.h"

namespace hsls::ckpt {

GuardProtection::GuardProtection(GuestMemory& mem, uint64_t pages, WriteGuard::Backup backup)
    : mem_(mem), guard_(pages, std::move(backup)) {
  mem_.set_write_guard(&guard_);
}

GuardProtection::~GuardProtection() { mem_.set_write_guard(nullptr); }

std::optional<uint64_t> GuardProtection::next_fault(int stop_fd, int timeout_ms) {
  pollfd fd{stop_fd, POLLIN, 0};
  int n = ::poll(&fd, 1, timeout_ms);
  if (n < 0 && errno != EINTR) throw Error(errno_text("poll for the checkpointer's stop"));
  return n > 0 ? std::nullopt : std::optional<uint64_t>(kTimedOut);
}

}  // namespace hsls::ckpt
