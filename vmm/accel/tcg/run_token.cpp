#include "vmm/accel/tcg/run_token.h"

namespace hsls::accel::tcg {

bool RunToken::release_and_wake(unsigned who, bool yield) {
  bool others = yield && others_want(who);
  if (others) owe_turn(who);
  holder_.store(0, std::memory_order_release);
  wake_deferred_.store(false, std::memory_order_relaxed);  // woken now
  epoch_sleepers_.bump(epoch_);
  return others;
}

void RunToken::release_quietly() {
  wake_deferred_.store(true, std::memory_order_release);
  holder_.store(0, std::memory_order_release);
  epoch_.fetch_add(1, std::memory_order_release);  // a waiter not asleep yet sees it
}

void RunToken::wake_waiters() {
  epoch_sleepers_.bump(epoch_);
  // And a holder that just yielded and waits (up to 2 ms) for another vCPU
  // to take the token: a kicked vCPU may never take it (it parks instead).
  // A change, not only a wake: the yielder may not be asleep yet.
  handover_sleepers_.bump(handovers_);
}

}  // namespace hsls::accel::tcg
