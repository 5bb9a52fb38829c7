// The pause copier: a process forked from the VMM that shares the copying
// of each stop-the-world pause from a host CPU no vCPU uses, while the
// leader write-protects.
//
// Why a process and not a thread: every UFFDIO_WRITEPROTECT changes the
// VMM's page tables, and each CPU currently running a VMM thread must take
// a TLB-flush IPI for it (~2 us on both sides here). A copier thread made
// the protects or the copy slower by what it saved; a process has its own
// page tables, and sees guest RAM and the backups through the same shared
// file mapping (and the work list through PauseWork's shared block).
//
// It sleeps until shortly before each checkpoint is due, spins until the
// leader publishes the pause's work, copies, and sleeps again. It sits out
// intervals under kMinIntervalMs: the lines it reads move from the vCPU's
// cache to its own, which costs the guest up to ~60 us per checkpoint when
// the guest's working set is cached (≤ 1.2 % at 5 ms), and at short
// intervals the leader copies from a warm cache anyway.
//
// The child runs only async-signal-safe code (atomics, copies through
// nvm::Persist, clock_nanosleep, getppid): the VMM is multithreaded when
// it forks. It dies with the VMM (PR_SET_PDEATHSIG, and getppid checks).
#pragma once
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "ckpt/pause_work.h"
#include "vmm/core/fd.h"

namespace hsls::ckpt {

class PauseCopier {
 public:
  static constexpr double kMinIntervalMs = 5;

  // Forks the copier; returns null (and logs why) if it cannot.
  static std::unique_ptr<PauseCopier> spawn(PauseWork& work);
  ~PauseCopier();
  PauseCopier(const PauseCopier&) = delete;
  PauseCopier& operator=(const PauseCopier&) = delete;

  // The next checkpoint's deadline and the interval (leader, at each change).
  void plan(uint64_t due_ns, double interval_ms);
  // Whether it takes part at this interval.
  static bool acts_at(double interval_ms) { return interval_ms >= kMinIntervalMs; }
  // Whether the process is still running.
  bool alive() const;
  pid_t pid() const { return pid_; }

 private:
  struct Control {
    std::atomic<uint64_t> due_ns{~0ull};
    std::atomic<uint64_t> interval_ns{0};
    std::atomic<bool> stop{false};
  };
  PauseCopier(Control* control, pid_t pid, int pidfd) : control_(control), pid_(pid), pidfd_(pidfd) {}
  [[noreturn]] static void child_loop(PauseWork& work, Control& control, pid_t parent);

  Control* control_;  // MAP_SHARED
  pid_t pid_;
  Fd pidfd_;
};

}  // namespace hsls::ckpt
