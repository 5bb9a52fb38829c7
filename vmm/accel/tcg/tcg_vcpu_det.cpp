// The deterministic machine's side of a software-CPU vCPU (det_schedule.h):
// a vCPU runs only in its turn; at every event the turn holder, with the
// engine stopped, services the schedule (timers, input from outside, a
// power failure aimed at a block, the checkpointer's alarm) and, when its
// quantum is over or it idles, hands the turn to the next vCPU in index
// order that can run, or jumps guest time to the next deadline.
#include "vmm/accel/tcg/tcg_vcpu.h"

#include "vmm/accel/tcg/tcg_vm.h"

namespace hsls::accel::tcg {
namespace {

constexpr uint64_t kIf = 1u << 9;

Exit failed_exit(const std::string& reason) {
  Exit e;
  e.kind = Exit::Kind::failed;
  e.reason = reason;
  return e;
}

}  // namespace

// Waits for this vCPU's turn (or a kick), then runs until it must leave the engine.
Exit TcgVcpu::run_det() {
  DetSchedule& d = *vm_.det();
  RunToken& token = vm_.token();
  for (;;) {
    uint32_t seen = token.epoch();
    if (kicked_.exchange(false)) return Exit{};
    if (d.turn() == index_) break;
    token.wait_epoch(seen, 50'000'000);
  }
  if (!token.acquire(index_, kicked_)) {
    kicked_ = false;
    return Exit{};
  }
  vm_.set_current(this);
  load(true);
  take_init_sipi();
  Exit e = det_turn();
  give_engine();
  return e;
}

// The turn: service, inject, run the engine to the next event; leaves on
// a kick (pause, power failure, stop), a failure, or when the turn passes.
Exit TcgVcpu::det_turn() {
  DetSchedule& d = *vm_.det();
  for (;;) {
    if (kicked_.exchange(false)) return Exit{};
    if (!failure_.empty()) return failed_exit(failure_);
    if (!det_service()) return Exit{};
    // What the service asked of the engine (an interrupt for this vCPU,
    // input from outside) is answered below; a stop left pending would end
    // the next run after one block, and where it ends must not depend on
    // how an event arrived (posted from outside or replayed from a log).
    vm_.clear_stop();
    if (kicked_.load()) continue;
    bool can_run = false;
    if (run_state_ != RunState::wait_for_sipi) {
      inject_pending();
      if (write_withheld_) return Exit{};
      if (!failure_.empty()) return failed_exit(failure_);
      can_run = run_state_ == RunState::running;
    }
    if (!can_run || d.quantum_over()) {
      if (!det_next_turn()) return Exit{};
      continue;  // still this vCPU's turn (maybe after a jump in time): service first
    }
    if (auto failure = run_engine()) return *failure;
  }
}

// Services what is due at this point of guest time (token held, engine
// stopped). False if the vCPU must leave the engine (it was kicked).
bool TcgVcpu::det_service() {
  DetSchedule& d = *vm_.det();
  bool first = d.first_service_here();
  if (d.now_ns() >= d.timer_deadline()) vm_.det_fire_timers();
  while (auto fn = d.take_due_block_event()) det_call_outside(fn);
  // Input from outside where a replay applies it: after the block events
  // of the first service at this point (first_service_here()).
  if (first && d.external_pending())
    for (auto& fn : d.take_external()) fn(d.blocks());
  if (auto fn = d.take_due_alarm()) det_call_outside(fn);
  return !kicked_.load();
}

// Runs `fn` with the engine handed back (no vCPU holds it: `fn` may read
// and write any vCPU's state), then takes it again.
template <typename Fn>
void TcgVcpu::det_call_outside(Fn&& fn) {
  give_engine();
  try {
    fn();
  } catch (...) {
    take_engine();
    load(true);
    throw;
  }
  take_engine();
  load(true);
}

// The turn ends (idle, or its quantum over): the next vCPU in index order
// that can run gets it, this one last. When none can, guest time jumps to
// the next deadline. True if the turn is (still) this vCPU's.
bool TcgVcpu::det_next_turn() {
  DetSchedule& d = *vm_.det();
  unsigned n = vm_.vcpu_count();
  store();  // this vCPU's bytes, for det_runnable()
  for (unsigned k = 1; k <= n; ++k) {
    unsigned j = (index_ + k) % n;
    TcgVcpu* v = vm_.vcpu_at(j);
    if (!v || !v->det_runnable()) continue;
    d.give_turn(j);
    if (j == index_) return true;
    vm_.token().wake_waiters();
    return false;
  }
  uint64_t next = d.next_deadline();
  auto interrupted = [&] { return kicked_.load() || d.external_pending(); };
  if (next == DetSchedule::kNever) {
    // Nothing will happen without input from outside: wait for some, or a kick.
    uint32_t seen = vm_.token().epoch();
    if (!interrupted()) vm_.token().wait_epoch(seen, 10'000'000);
  } else {
    d.jump_to(next, interrupted);
  }
  // Input that cut the wait short cannot be applied at the point already serviced.
  if (d.external_pending() && d.served_here()) d.move_on_for_input(next);
  return true;
}

// Whether this parked vCPU could run if given the turn.
bool TcgVcpu::det_runnable() {
  if (init_pending_.load() || sipi_pending_.load() >= 0 || carried_vector_ >= 0) return true;
  if (run_state_ == RunState::running) return true;
  if (run_state_ != RunState::halted) return false;
  std::lock_guard lock(vm_.platform_mutex());
  return lapic_->pending() >= 0 && (cpu_.get<uint64_t>(uc_layout().eflags) & kIf);
}

}  // namespace hsls::accel::tcg
