// The deterministic machine's clock and schedule (issue 16). Guest time is
// virtual: it advances by a fixed step per translated block executed (the
// block hook counts them; Unicorn has no cheap instruction counter) and
// jumps to the next timer deadline when every vCPU is idle. The vCPUs take
// turns in a fixed order, each for a fixed quantum of blocks or until it
// halts. Everything that happens to the guest happens at a block count:
// timers fire, the checkpointer's alarm rings, a power failure aimed at a
// block strikes, input from outside is applied (and logged with its count
// so that it can be replayed). So a run is a function of its image, config
// and seed.
//
// Only the vCPU whose turn it is writes the clock (its block hook); any
// thread may read it. The event lists are under `mu_`.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <utility>
#include <mutex>

#include "vmm/accel/accel.h"

namespace hsls::accel::tcg {

class DetSchedule {
 public:
  static constexpr uint64_t kNsPerBlock = kDeterministicNsPerBlock;  // guest time per block executed
  static constexpr uint64_t kQuantumBlocks = 100'000;  // a turn: 1 ms of guest time
  static constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

  // `paced`: idle jumps wait for the host's clock to catch up (an
  // interactive machine), so guest time never runs ahead of real time;
  // pacing changes when things happen on the host, never their order.
  DetSchedule(uint64_t seed, bool paced, unsigned vcpus);

  uint64_t seed() const { return seed_; }
  uint64_t now_ns() const { return vtime_.load(std::memory_order_relaxed); }
  uint64_t blocks() const { return blocks_.load(std::memory_order_relaxed); }

  // Block hook of the vCPU whose turn it is, before the block runs: whether
  // an event is due first (the vCPU then stops the engine, and the block
  // does not run: Unicorn checks for a stop right after the block hook).
  bool due() const { return now_ns() >= next_ns_ || blocks() >= next_block_; }
  // The block runs: one more block, and guest time moves on by one step.
  void count_block() {
    vtime_.store(vtime_.load(std::memory_order_relaxed) + kNsPerBlock, std::memory_order_relaxed);
    blocks_.store(blocks_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  // --- turns ---
  unsigned turn() const { return turn_.load(std::memory_order_acquire); }
  // Gives the turn to `vcpu` with a fresh quantum.
  void give_turn(unsigned vcpu);
  bool quantum_over() const { return blocks() >= quantum_end_; }
  uint64_t quantum_left() const { return quantum_end_ > blocks() ? quantum_end_ - blocks() : 0; }

  // --- the clock's events (the turn holder recomputes next_*) ---
  // Earliest timer deadline of the platform, set by the VM after a change.
  void set_timer_deadline(uint64_t ns) { timer_ns_ = ns; recompute(); }
  uint64_t timer_deadline() const { return timer_ns_; }
  // The one alarm (the checkpointer's epoch): `fn` runs at `due_ns`.
  void set_alarm(uint64_t due_ns, std::function<void()> fn);
  // The alarm's function if guest time reached it (taken: it rings once).
  std::function<void()> take_due_alarm();
  uint64_t alarm_ns() const { return alarm_ns_; }
  // `fn` runs when `block` blocks have executed since boot and guest time
  // is at least `not_before_ns` (an input replayed where it first came: at
  // an idle point the block count stands still while time moves on).
  void at_block(uint64_t block, std::function<void()> fn, uint64_t not_before_ns = 0);
  std::function<void()> take_due_block_event();
  // Input from outside, applied at the next service point; any thread.
  void post_external(std::function<void(uint64_t block)> fn);
  bool external_pending() const { return external_pending_.load(std::memory_order_acquire); }
  std::deque<std::function<void(uint64_t)>> take_external();

  // The turn holder services the schedule: whether this is the first
  // service at this point of the run (block count and guest time). Input
  // from outside is applied only there: a replay, which has it as a block
  // event, applies it at the first service that reaches its point; later
  // ones at the same point (another vCPU's turn, a kick) vary from run to run.
  bool first_service_here();
  // Whether the current point has been serviced already.
  bool served_here() const { return served_blocks_ == blocks() && served_ns_ == now_ns(); }
  // Input came while every vCPU idles at a point already serviced: guest
  // time moves on to a point of its own (the host's now when paced, at
  // least 1 ns later, never past `limit`), where it is applied and logged.
  void move_on_for_input(uint64_t limit);

  // Every vCPU idles: the next point in guest time something happens
  // (kNever: nothing ever will without input from outside).
  uint64_t next_deadline();
  // Jumps the clock to `ns` (idle); with pacing, first waits until the
  // host's clock allows it or `interrupted` says to stop waiting (then
  // returns false without jumping).
  bool jump_to(uint64_t ns, const std::function<bool()>& interrupted);

  // Saved state (platform::ClockState) in and out.
  void restore(uint64_t ns, uint64_t blocks, unsigned turn, uint64_t quantum_left);

 private:
  void recompute();

  uint64_t seed_;
  bool paced_;
  unsigned vcpus_;
  std::atomic<uint64_t> vtime_{0}, blocks_{0};
  uint64_t next_ns_ = 0, next_block_ = 0;  // read by due()
  std::atomic<unsigned> turn_{0};
  uint64_t quantum_end_ = 0;
  uint64_t timer_ns_ = kNever;
  uint64_t alarm_ns_ = kNever;
  std::function<void()> alarm_fn_;
  std::multimap<std::pair<uint64_t, uint64_t>, std::function<void()>> block_events_;  // (block, not before ns)
  std::mutex mu_;  // external input and block events (posted from other threads)
  std::deque<std::function<void(uint64_t)>> external_;
  std::atomic<bool> external_pending_{false};
  std::atomic<uint64_t> first_block_event_{kNever};
  std::atomic<uint64_t> first_block_ns_{0};
  uint64_t served_blocks_ = kNever, served_ns_ = kNever;  // the point last serviced
  // pacing: guest time `pace_ns_` corresponds to host time `pace_host_ns_`
  uint64_t pace_ns_ = 0, pace_host_ns_ = 0;
};

}  // namespace hsls::accel::tcg
