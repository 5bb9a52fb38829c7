#include "vmm/accel/tcg/det_schedule.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "vmm/core/clock.h"

namespace hsls::accel::tcg {
namespace {

// A 64-bit mix of the seed (splitmix64's finaliser): nearby seeds give unrelated values.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

// The seed places the guest's clock somewhere in its second second and
// shifts the first turn's length, so two seeds interleave differently.
DetSchedule::DetSchedule(uint64_t seed, bool paced, unsigned vcpus) : seed_(seed), paced_(paced), vcpus_(vcpus) {
  uint64_t m = mix(seed);
  vtime_ = 1'000'000'000 + m % 1'000'000'000;
  quantum_end_ = kQuantumBlocks / 2 + (m >> 32) % kQuantumBlocks;
  pace_ns_ = vtime_;
  pace_host_ns_ = monotonic_ns();
  recompute();
}

void DetSchedule::give_turn(unsigned vcpu) {
  quantum_end_ = blocks() + kQuantumBlocks;
  turn_.store(vcpu, std::memory_order_release);
  recompute();
}

void DetSchedule::set_alarm(uint64_t due_ns, std::function<void()> fn) {
  alarm_ns_ = due_ns;
  alarm_fn_ = std::move(fn);
  recompute();
}

std::function<void()> DetSchedule::take_due_alarm() {
  if (alarm_ns_ == kNever || now_ns() < alarm_ns_) return {};
  alarm_ns_ = kNever;
  auto fn = std::move(alarm_fn_);
  alarm_fn_ = nullptr;
  recompute();
  return fn;
}

void DetSchedule::at_block(uint64_t block, std::function<void()> fn, uint64_t not_before_ns) {
  std::lock_guard lock(mu_);
  block_events_.emplace(std::make_pair(block, not_before_ns), std::move(fn));
  first_block_event_ = block_events_.begin()->first.first;
  first_block_ns_ = block_events_.begin()->first.second;
}

std::function<void()> DetSchedule::take_due_block_event() {
  std::lock_guard lock(mu_);
  if (block_events_.empty()) return {};
  auto [block, not_before] = block_events_.begin()->first;
  if (block > blocks() || not_before > now_ns()) {
    recompute();  // reached by count but not by time: wait for the time, not at every block
    return {};
  }
  auto fn = std::move(block_events_.begin()->second);
  block_events_.erase(block_events_.begin());
  first_block_event_ = block_events_.empty() ? kNever : block_events_.begin()->first.first;
  first_block_ns_ = block_events_.empty() ? 0 : block_events_.begin()->first.second;
  recompute();
  return fn;
}

void DetSchedule::post_external(std::function<void(uint64_t)> fn) {
  std::lock_guard lock(mu_);
  external_.push_back(std::move(fn));
  external_pending_.store(true, std::memory_order_release);
}

std::deque<std::function<void(uint64_t)>> DetSchedule::take_external() {
  std::lock_guard lock(mu_);
  external_pending_.store(false, std::memory_order_release);
  return std::exchange(external_, {});
}

bool DetSchedule::first_service_here() {
  bool first = !served_here();
  served_blocks_ = blocks();
  served_ns_ = now_ns();
  return first;
}

void DetSchedule::move_on_for_input(uint64_t limit) {
  uint64_t now = now_ns(), to = now + 1;
  if (paced_) {
    uint64_t host = monotonic_ns();
    if (host > pace_host_ns_) to = std::max(to, pace_ns_ + (host - pace_host_ns_));
  }
  if (limit > now) to = std::min(to, limit);
  vtime_.store(to, std::memory_order_relaxed);
  recompute();
}

uint64_t DetSchedule::next_deadline() {
  uint64_t next = std::min(timer_ns_, alarm_ns_);
  std::lock_guard lock(mu_);
  // An event whose block count is reached waits for its time: that is a deadline too.
  if (!block_events_.empty() && block_events_.begin()->first.first <= blocks())
    next = std::min(next, std::max(block_events_.begin()->first.second, now_ns()));
  return next;
}

bool DetSchedule::jump_to(uint64_t ns, const std::function<bool()>& interrupted) {
  if (paced_ && ns > pace_ns_) {
    for (;;) {
      uint64_t host = monotonic_ns(), due = pace_host_ns_ + (ns - pace_ns_);
      if (host >= due) break;
      if (interrupted()) return false;
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<uint64_t>(due - host, 2'000'000)));
    }
  }
  if (ns > now_ns()) vtime_.store(ns, std::memory_order_relaxed);
  // Busy stretches let guest time fall behind the host's; never pay that back by racing ahead.
  if (paced_) {
    uint64_t host = monotonic_ns();
    if (host - pace_host_ns_ > now_ns() - pace_ns_) {
      pace_ns_ = now_ns();
      pace_host_ns_ = host;
    }
  }
  recompute();
  return true;
}

void DetSchedule::restore(uint64_t ns, uint64_t blocks, unsigned turn, uint64_t quantum_left) {
  vtime_ = ns;
  blocks_ = blocks;
  turn_ = turn < vcpus_ ? turn : 0;
  quantum_end_ = blocks + std::min(quantum_left ? quantum_left : kQuantumBlocks, kQuantumBlocks * 2);
  pace_ns_ = ns;
  pace_host_ns_ = monotonic_ns();
  served_blocks_ = served_ns_ = kNever;
  recompute();
}

void DetSchedule::recompute() {
  next_ns_ = std::min(timer_ns_, alarm_ns_);
  next_block_ = quantum_end_;
  uint64_t b = first_block_event_.load();
  if (b > blocks()) next_block_ = std::min(next_block_, b);
  else next_ns_ = std::min(next_ns_, first_block_ns_.load());  // counted out: its time is what it waits for
}

}  // namespace hsls::accel::tcg
