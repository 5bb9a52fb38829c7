#include "ckpt/pause_copier.h"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "vmm/core/log.h"

namespace hsls::ckpt {
namespace {

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

void sleep_until_ns(uint64_t t) {
  timespec ts{time_t(t / 1'000'000'000), long(t % 1'000'000'000)};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

}  // namespace

std::unique_ptr<PauseCopier> PauseCopier::spawn(PauseWork& work) {
  void* p = ::mmap(nullptr, sizeof(Control), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    log::get("ckpt")->warn("no pause copier: mmap: {}", std::strerror(errno));
    return nullptr;
  }
  auto* control = new (p) Control();
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) child_loop(work, *control, parent);
  if (pid < 0) {
    log::get("ckpt")->warn("no pause copier: fork: {}", std::strerror(errno));
    ::munmap(p, sizeof(Control));
    return nullptr;
  }
  int pidfd = int(::syscall(SYS_pidfd_open, pid, 0));
  log::get("ckpt")->info("pause copier: process {} shares the pause's copying at intervals >= {} ms", pid,
                         kMinIntervalMs);
  return std::unique_ptr<PauseCopier>(new PauseCopier(control, pid, pidfd));
}

// Asks the copier to stop, waits a little, then kills it; always reaps it.
PauseCopier::~PauseCopier() {
  control_->stop.store(true);
  bool exited = false;
  if (pidfd_) {
    pollfd pfd{pidfd_.get(), POLLIN, 0};
    exited = ::poll(&pfd, 1, 50) == 1;
  }
  if (!exited) ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  control_->~Control();
  ::munmap(control_, sizeof(Control));
}

void PauseCopier::plan(uint64_t due_ns, double interval_ms) {
  control_->interval_ns.store(uint64_t(interval_ms * 1e6), std::memory_order_relaxed);
  control_->due_ns.store(due_ns, std::memory_order_release);
}

bool PauseCopier::alive() const {
  if (pidfd_) {
    pollfd pfd{pidfd_.get(), POLLIN, 0};
    return ::poll(&pfd, 1, 0) == 0;
  }
  return ::waitpid(pid_, nullptr, WNOHANG) == 0;
}

// The copier process. Only async-signal-safe calls from here on.
void PauseCopier::child_loop(PauseWork& work, Control& c, pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);
  ::syscall(SYS_close_range, 3u, ~0u, 0u);  // no VM, vCPU, userfaultfd or socket descriptors in here
  ::prctl(PR_SET_NAME, "vmm-copier");
  ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);  // wake within ~1 us of a deadline, not 50
  constexpr uint64_t kLeadNs = 60'000, kSpinNs = 400'000, kSliceNs = 2'000'000;
  const uint64_t min_interval_ns = uint64_t(kMinIntervalMs * 1e6);
  uint64_t last = 0;
  while (!c.stop.load() && ::getppid() == parent) {
    uint64_t now = monotonic_ns();
    uint64_t due = c.due_ns.load(std::memory_order_acquire);
    bool sit_out = c.interval_ns.load(std::memory_order_relaxed) < min_interval_ns;
    if (sit_out || due > now + kLeadNs) {
      // In slices: the deadline may move, and the VMM may stop or die.
      sleep_until_ns(sit_out ? now + kSliceNs : std::min(due - kLeadNs, now + kSliceNs));
      continue;
    }
    // Due: spin until the pause publishes its work (or is over: a new
    // deadline), copy, then wait for the next deadline.
    uint64_t until = std::max(now, due) + kSpinNs;
    while (!c.stop.load(std::memory_order_relaxed) && c.due_ns.load(std::memory_order_relaxed) == due &&
           monotonic_ns() < until) {
      uint64_t gen = work.published_gen();
      if (gen != 0 && gen != last) {
        work.help(gen, PauseWork::Role::spare);
        last = gen;
        break;
      }
      __builtin_ia32_pause();
    }
    while (c.due_ns.load(std::memory_order_acquire) == due && !c.stop.load() && ::getppid() == parent)
      sleep_until_ns(monotonic_ns() + 200'000);
  }
  ::_exit(0);
}

}  // namespace hsls::ckpt
