// One engine at a time. Unicorn's locked instructions are not atomic
// between two engines on two threads (software-cpu.md: 2 x 3M `lock xadd`
// lost ~45 %), so the vCPUs of a machine take turns: each vCPU keeps its
// own thread and engine, and runs guest code only while it holds the
// token. Handing the token over (a futex) orders every guest store of one
// turn before the next, so the guest sees one CPU at a time, exactly as
// with all engines on one thread, while the machine's per-vCPU-thread
// protocols (pause, checkpoint lead/follow) stay as they are on KVM.
// Waiting can be cut short by a kick, from another thread or from the kick
// signal on the waiter's own thread (the futex wait then ends with EINTR).
#pragma once
#include <atomic>
#include <cstdint>

namespace hsls::accel::tcg {

// futex helpers on a 32-bit atomic (wait returns on a change, a wake, a signal or the timeout).
void futex_wait(const std::atomic<uint32_t>& word, uint32_t expected, int64_t timeout_ns = -1);
void futex_wake(const std::atomic<uint32_t>& word, int count = 1 << 30);

class RunToken {
 public:
  // Takes the token for vCPU `who`; returns false, without it, as soon as
  // `kicked` is set (it is not cleared).
  bool acquire(unsigned who, const std::atomic<bool>& kicked);
  // Takes the token for a caller that is not a vCPU (a dirty-log harvest):
  // once counted as a waiter, and again after each wake, `ask` asks the
  // holder to leave (a holder that leaves sees the waiter, so it yields).
  // Gives up after `patience_ns` (false, without the token): a holder may
  // be blocked on something only the caller's thread can do.
  template <typename Ask>
  bool acquire_asking(unsigned who, Ask&& ask, int64_t patience_ns);  // Gives the token back. `yield`: the turn ended so that a waiting vCPU
  // can run: wait (briefly) until it took the token instead of winning it
  // straight back.
  void release(unsigned who, bool yield = false);
  // Wakes every waiter so each looks at its kick flag again (any thread).
  void wake_waiters();
  // The same from a signal handler on a waiter's own thread: no wake
  // needed, the interrupted wait sees the change (async-signal-safe).
  void poke_from_signal() { epoch_.fetch_add(1, std::memory_order_release); }
  // What waiters sleep on: it changes at each release, wake and poke.
  uint32_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  // Sleeps until the epoch moves from `seen` or `timeout_ns` passes (or a signal).
  void wait_epoch(uint32_t seen, int64_t timeout_ns) const { futex_wait(epoch_, seen, timeout_ns); }
  // Whether some vCPU waits for the token (the holder's turn should end).
  bool contended() const { return waiting_.load(std::memory_order_relaxed) != 0; }

 private:
  static constexpr int64_t kAskPeriodNs = 200'000;
  std::atomic<uint32_t> holder_{0};  // 0 = free, else vCPU + 1
  std::atomic<uint32_t> epoch_{0};   // changes at each release and poke: what waiters sleep on
  std::atomic<uint32_t> waiting_{0};
  std::atomic<uint32_t> handovers_{0};  // bumped at each acquire: a releaser waits for it to move
};


template <typename Ask>
bool RunToken::acquire_asking(unsigned who, Ask&& ask, int64_t patience_ns) {
  waiting_.fetch_add(1, std::memory_order_seq_cst);
  bool got = false;
  for (int64_t waited = 0;; waited += kAskPeriodNs) {
    uint32_t e = epoch_.load(std::memory_order_acquire);
    uint32_t h = 0;
    if (holder_.compare_exchange_strong(h, who + 1, std::memory_order_acquire)) {
      got = true;
      break;
    }
    if (waited >= patience_ns) break;
    ask();
    futex_wait(epoch_, e, kAskPeriodNs);
  }
  waiting_.fetch_sub(1, std::memory_order_relaxed);
  if (got) {
    handovers_.fetch_add(1, std::memory_order_release);
    futex_wake(handovers_);
  }
  return got;
}

}  // namespace hsls::accel::tcg
