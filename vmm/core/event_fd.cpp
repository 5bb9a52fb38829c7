#include "vmm/core/event_fd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/core/error.h"

namespace hsls {

EventFd::EventFd() {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw Error(errno_text("eventfd"));
  fd_ = Fd(fd);
}

void EventFd::signal() {
  uint64_t one = 1;
  ssize_t ignored = ::write(fd_.get(), &one, sizeof one);
  (void)ignored;
}

uint64_t EventFd::drain() {
  uint64_t v = 0;
  if (::read(fd_.get(), &v, sizeof v) != ssize_t(sizeof v)) return 0;
  return v;
}

}  // namespace hsls
