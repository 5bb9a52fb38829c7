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

#include "vmm/core/clock.h"
#include "vmm/core/futex.h"

namespace hsls::accel::tcg {

class RunToken {
 public:
  // Takes the token for vCPU `who` to run its turn; returns false, without
  // it, as soon as `kicked` is set (it is not cleared). `idle` is told when
  // the caller sleeps (enter()) and wakes (leave(), which may wait for a
  // holder). A vCPU that owes its turn lets another go first (owe_turn).
  template <typename Idle>
  bool acquire_turn(unsigned who, const std::atomic<bool>& kicked, Idle& idle) {
    return acquire_impl(who, kicked, idle, true);
  }
  // Takes the token on vCPU `who`'s behalf for something other than its
  // turn (reading or writing its state): no turn is owed or paid.
  bool acquire(unsigned who, const std::atomic<bool>& kicked) {
    struct {
      void enter() {}
      void leave() {}
    } awake;
    return acquire_impl(who, kicked, awake, false);
  }
  // Takes the token for a caller that is not a vCPU (a dirty-log harvest):
  // once counted as a waiter, and again after each wake, `ask` asks the
  // holder to leave (a holder that leaves sees the waiter, so it yields).
  // Gives up after `patience_ns` (false, without the token): a holder may
  // be blocked on something only the caller's thread can do.
  template <typename Ask>
  bool acquire_asking(unsigned who, Ask&& ask, int64_t patience_ns);
  // Gives the token back. `yield`: the turn ended so that a waiting vCPU
  // can run: wait (briefly) until it took the token instead of winning it
  // straight back. `idle` is told around the release and that wait (the
  // caller's state is saved and it touches no engine, so a checkpoint may
  // hold it there instead of kicking it): on a CPU the vCPUs share, the
  // wake of the taker often preempts the releaser inside it, for the
  // taker's whole turn, and a checkpoint that kicked it then had to wait
  // for the CPU to come back to it twice (~30 us more in ~20 % of pauses).
  template <typename Idle>
  void release(unsigned who, bool yield, Idle& idle) {
    uint32_t seen = handovers_.load(std::memory_order_acquire);
    idle.enter();
    if (release_and_wake(who, yield)) handover_sleepers_.wait(handovers_, seen, owed_turn_ns_);
    idle.leave();
  }
  void release(unsigned who) { release_and_wake(who, false); }
  // Gives the token back without waking the vCPUs waiting for it, for a
  // checkpoint's pause (the releaser leads it, or harvests in it): the pause
  // holds them where they sleep. wake_deferred() wakes them (the pause's
  // end, or an idle wait).
  void release_quietly();
  // The same for vCPU `who` that ends its turn to lead a checkpoint: its
  // turn goes on after the pause, so until it takes the token back (or
  // `until_ns`, the end of its slice) no other vCPU's turn begins. A pause
  // then neither hands the engine to another vCPU (a switch: a TLB flush
  // and cold caches) nor cuts the schedule it interrupted.
  void release_for_lead(unsigned who, uint64_t until_ns) {
    reserved_until_ns_.store(until_ns, std::memory_order_relaxed);
    reserved_for_.store(who + 1, std::memory_order_release);
    release_quietly();
  }
  // `who` will not come back for its turn (it goes idle): the others may.
  void drop_reservation(unsigned who) {
    uint32_t mine = who + 1;
    if (reserved_for_.compare_exchange_strong(mine, 0, std::memory_order_acq_rel)) {
      epoch_sleepers_.bump(epoch_);
    }
  }
  void wake_deferred() {
    if (wake_deferred_.exchange(false, std::memory_order_acq_rel)) epoch_sleepers_.wake(epoch_);
  }
  // Vcpu `who` owes its next turn to the vCPUs waiting now (its turn was
  // cut short): its next acquire lets one of them go first.
  void owe_turn(unsigned who) {
    owed_since_ns_.store(monotonic_ns(), std::memory_order_relaxed);
    owed_by_.store(who + 1, std::memory_order_relaxed);
  }
  // Wakes every waiter so each looks at its kick flag again, and a yielding
  // releaser waiting for a taker (any thread).
  void wake_waiters();
  // The same from a signal handler on a waiter's own thread: no wake
  // needed, the interrupted wait sees the change (async-signal-safe).
  void poke_from_signal() {
    epoch_.fetch_add(1, std::memory_order_release);
    handovers_.fetch_add(1, std::memory_order_release);  // a yielder about to wait goes on
  }
  // What waiters sleep on: it changes at each release, wake and poke.
  uint32_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  // Sleeps until the epoch moves from `seen` or `timeout_ns` passes (or a signal).
  void wait_epoch(uint32_t seen, int64_t timeout_ns) const { epoch_sleepers_.wait(epoch_, seen, timeout_ns); }
  // Tests: how long a yielded turn stays owed, and a yielder waits for a
  // taker (2 ms); a long one makes a missed wake show.
  void set_owed_turn_ns(int64_t ns) { owed_turn_ns_ = ns; }
  // Whether some vCPU waits for the token (the holder's turn should end).
  bool contended() const { return waiting_.load(std::memory_order_relaxed) != 0; }
  // vCPU `who` can run guest code (not halted, not waiting for a start-up
  // IPI) or not. On a CPU the vCPUs share, a vCPU that wants the engine may
  // not even have reached acquire(): the running one holds the CPU too.
  void set_runnable(unsigned who, bool on) {
    if (on) {
      runnable_.fetch_or(1u << who, std::memory_order_relaxed);
    } else {
      runnable_.fetch_and(~(1u << who), std::memory_order_relaxed);
    }
  }
  // Whether a vCPU other than `who` (or a harvest) wants the engine: the
  // holder's turn should end at its slice and be handed over.
  bool others_want(unsigned who) const { return contended() || others_runnable(who); }

 private:
  template <typename Idle>
  bool acquire_impl(unsigned who, const std::atomic<bool>& kicked, Idle& idle, bool turn);
  // release()'s work before any wait: true if the releaser is to wait for a taker.
  bool release_and_wake(unsigned who, bool yield);
  static constexpr int64_t kAskPeriodNs = 200'000;
  // A vCPU that yielded its turn owes it to the waiting vCPUs until one of
  // them took the token, or this long: a kick (a checkpoint) can end its
  // wait for the handover first, and on a CPU the vCPUs share, the running
  // thread would otherwise win the free token again every time (a vCPU
  // starved for 40 ms at 1 ms checkpoints).
  static constexpr int64_t kOwedTurnNs = 2'000'000;
  int64_t owed_turn_ns_ = kOwedTurnNs;
  bool others_runnable(unsigned who) const { return (runnable_.load(std::memory_order_relaxed) & ~(1u << who)) != 0; }
  // The ns until the turn reserved for another vCPU than `who` ends (0: none).
  int64_t reserved_elsewhere_ns(unsigned who) const {
    uint32_t r = reserved_for_.load(std::memory_order_acquire);
    if (r == 0 || r == who + 1) return 0;
    uint64_t until = reserved_until_ns_.load(std::memory_order_relaxed), now = monotonic_ns();
    return until > now ? int64_t(until - now) : 0;
  }
  // `who` took its turn: a reservation for it is used up.
  void end_reservation(unsigned who) {
    uint32_t mine = who + 1;
    if (reserved_for_.load(std::memory_order_relaxed) != mine) return;  // every turn asks: a read, not a locked CAS
    reserved_for_.compare_exchange_strong(mine, 0, std::memory_order_acq_rel);
  }
  bool owes_turn(unsigned who) const {
    return owed_by_.load(std::memory_order_relaxed) == who + 1 &&
           monotonic_ns() - owed_since_ns_.load(std::memory_order_relaxed) < uint64_t(owed_turn_ns_);
  }
  std::atomic<uint32_t> owed_by_{0};        // vCPU + 1 that owes its turn, 0 = none
  std::atomic<uint32_t> runnable_{0};       // bit per vCPU that can run guest code
  std::atomic<uint64_t> owed_since_ns_{0};
  std::atomic<uint32_t> holder_{0};  // 0 = free, else vCPU + 1
  std::atomic<uint32_t> epoch_{0};   // changes at each release and poke: what waiters sleep on
  std::atomic<uint32_t> waiting_{0};
  std::atomic<bool> wake_deferred_{false};  // a quiet release has not woken the waiters yet
  std::atomic<uint32_t> reserved_for_{0};   // vCPU + 1 whose turn a checkpoint paused, 0 = none
  std::atomic<uint64_t> reserved_until_ns_{0};
  std::atomic<uint32_t> handovers_{0};  // bumped at each acquire, wake and poke: a yielding releaser waits for it to move
  mutable FutexSleepers epoch_sleepers_;     // on epoch_ (wait_epoch is const)
  FutexSleepers handover_sleepers_;          // on handovers_
};


template <typename Idle>
bool RunToken::acquire_impl(unsigned who, const std::atomic<bool>& kicked, Idle& idle, bool turn) {
  const bool owes = turn && owes_turn(who);
  uint32_t free = 0;
  if (!owes && !(turn && reserved_elsewhere_ns(who)) && holder_.compare_exchange_strong(free, who + 1, std::memory_order_acquire)) {
    if (turn) end_reservation(who);
    // A vCPU that just yielded may already sleep on it: it waits for a
    // taker, and one that never waited is one too (on a CPU the vCPUs
    // share, the taker often reaches acquire only once the yielder sleeps).
    // Unwoken, it slept out its 2 ms even if this turn ended at once.
    handover_sleepers_.bump(handovers_);
    return true;
  }
  waiting_.fetch_add(1, std::memory_order_relaxed);
  if (owes) wake_waiters();  // the vCPU owed the turn may sleep past the last release
  for (;;) {
    uint32_t e = epoch_.load(std::memory_order_acquire);
    if (kicked.load(std::memory_order_acquire)) {
      waiting_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    // Owing the turn, let another vCPU take it first (for a while); this
    // caller is one of the waiters.
    bool defer = turn && owes_turn(who) && (waiting_.load(std::memory_order_relaxed) > 1 || others_runnable(who));
    // Another vCPU's turn paused for a checkpoint: wait for it to go on
    // (its release wakes this one), or for its slice to end.
    int64_t reserved = turn ? reserved_elsewhere_ns(who) : 0;
    uint32_t h = 0;
    if (!defer && !reserved && holder_.compare_exchange_strong(h, who + 1, std::memory_order_acquire)) break;
    idle.enter();
    epoch_sleepers_.wait(epoch_, e, defer ? owed_turn_ns_ : reserved ? reserved : -1);
    idle.leave();
  }
  if (turn) end_reservation(who);
  waiting_.fetch_sub(1, std::memory_order_relaxed);
  if (turn && owed_by_.load(std::memory_order_relaxed) != who + 1) owed_by_.store(0, std::memory_order_relaxed);  // paid
  handover_sleepers_.bump(handovers_);
  return true;
}

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
    epoch_sleepers_.wait(epoch_, e, kAskPeriodNs);
  }
  waiting_.fetch_sub(1, std::memory_order_relaxed);
  if (got) {
    handover_sleepers_.bump(handovers_);
  }
  return got;
}

}  // namespace hsls::accel::tcg
