#include "ckpt/write_protect.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "vmm/core/error.h"

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)  // Linux 6.7; older uapi headers lack it
#endif

namespace hsls::ckpt {
namespace {

int g_low_fd = -1;  // /dev/null placeholder, or the live userfaultfd

// Moves `fd` onto the reserved low descriptor; returns the descriptor to use.
int move_to_low_fd(int fd) {
  if (g_low_fd < 0 || fd < g_low_fd) return fd;
  if (::dup3(fd, g_low_fd, O_CLOEXEC) < 0) return fd;
  ::close(fd);
  return g_low_fd;
}

}  // namespace

void reserve_low_fd() {
  if (g_low_fd < 0) g_low_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

WriteProtect::~WriteProtect() {
  // Put the placeholder back instead of freeing the low slot (closing it wakes blocked faults).
  if (fd_.get() == g_low_fd && g_low_fd >= 0) {
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd >= 0) {
      ::dup3(null_fd, g_low_fd, O_CLOEXEC);
      ::close(null_fd);
    }
    fd_.release();
  }
}

WriteProtect::WriteProtect(uint8_t* base, uint64_t size) : base_(base), size_(size) {
  int fd = int(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0) throw Error(errno_text("userfaultfd (needed for copy-on-write checkpoints)"));
  fd_ = Fd(fd);
  uffdio_api probe{};
  probe.api = UFFD_API;
  if (::ioctl(fd, UFFDIO_API, &probe) < 0) throw Error(errno_text("UFFDIO_API"));
  uint64_t need = UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_WP_UNPOPULATED;
  if ((probe.features & need) != need)
    throw Error("this kernel's userfaultfd cannot write-protect shared memory (needs WP_HUGETLBFS_SHMEM and "
                "WP_UNPOPULATED, Linux 6.7+), which checkpoints need; run with ckpt.enabled = false");
  // The API handshake may happen once per descriptor: reopen and ask for what we need.
  fd_ = Fd();
  fd = int(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0) throw Error(errno_text("userfaultfd"));
  fd_ = Fd(move_to_low_fd(fd));
  fd = fd_.get();
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = need;
  if (::ioctl(fd, UFFDIO_API, &api) < 0) throw Error(errno_text("UFFDIO_API with write-protect features"));
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uint64_t>(base);
  reg.range.len = size;
  reg.mode = UFFDIO_REGISTER_MODE_WP;
  if (::ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
    throw Error(errno_text("UFFDIO_REGISTER write-protect on guest memory (is the NVM file on tmpfs, e.g. /dev/shm?)"));
}

void WriteProtect::writeprotect(uint64_t first, uint64_t count, bool on) {
  uffdio_writeprotect wp{};
  wp.range.start = reinterpret_cast<uint64_t>(base_) + first * 4096;
  wp.range.len = count * 4096;
  wp.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
  while (::ioctl(fd_.get(), UFFDIO_WRITEPROTECT, &wp) < 0) {
    if (errno == EAGAIN || errno == EINTR) continue;
    throw Error(errno_text(on ? "UFFDIO_WRITEPROTECT (protect)" : "UFFDIO_WRITEPROTECT (unprotect)"));
  }
}

void WriteProtect::protect(uint64_t first, uint64_t count) { writeprotect(first, count, true); }

void WriteProtect::unprotect(uint64_t first, uint64_t count) { writeprotect(first, count, false); }

void WriteProtect::wake(uint64_t page) {
  uffdio_range r{reinterpret_cast<uint64_t>(base_) + page * 4096, 4096};
  ::ioctl(fd_.get(), UFFDIO_WAKE, &r);
}

void WriteProtect::wake_all() {
  uffdio_range r{reinterpret_cast<uint64_t>(base_), size_};
  ::ioctl(fd_.get(), UFFDIO_WAKE, &r);
}

std::optional<uint64_t> WriteProtect::next_fault(int stop_fd, int64_t timeout_ns) {
  for (;;) {
    uffd_msg msg;
    ssize_t n = ::read(fd_.get(), &msg, sizeof msg);
    if (n == sizeof msg) {
      if (msg.event != UFFD_EVENT_PAGEFAULT) continue;
      uint64_t addr = msg.arg.pagefault.address;
      uint64_t base = reinterpret_cast<uint64_t>(base_);
      if (addr < base || addr >= base + size_) continue;
      return (addr - base) / 4096;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) throw Error(errno_text("read userfaultfd"));
    pollfd fds[2] = {{fd_.get(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
    timespec ts = poll_timeout(timeout_ns);
    int n_ready = ::ppoll(fds, 2, timeout_ns < 0 ? nullptr : &ts, nullptr);
    if (n_ready < 0 && errno != EINTR) throw Error(errno_text("poll userfaultfd"));
    if (fds[1].revents) return std::nullopt;
    if (n_ready == 0) return kTimedOut;
  }
}

}  // namespace hsls::ckpt
