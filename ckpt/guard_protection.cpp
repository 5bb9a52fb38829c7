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

std::optional<uint64_t> GuardProtection::next_fault(int stop_fd, int64_t timeout_ns) {
  pollfd fd{stop_fd, POLLIN, 0};
  timespec ts = poll_timeout(timeout_ns);
  int n = ::ppoll(&fd, 1, timeout_ns < 0 ? nullptr : &ts, nullptr);
  if (n < 0 && errno != EINTR) throw Error(errno_text("poll for the checkpointer's stop"));
  return n > 0 ? std::nullopt : std::optional<uint64_t>(kTimedOut);
}

}  // namespace hsls::ckpt
