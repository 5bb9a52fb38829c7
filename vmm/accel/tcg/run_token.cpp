#include "vmm/accel/tcg/run_token.h"

namespace hsls::accel::tcg {

void RunToken::release(unsigned who, bool yield) {
  bool others = yield && others_want(who);
  uint32_t seen = handovers_.load(std::memory_order_acquire);
  if (others) owe_turn(who);
  holder_.store(0, std::memory_order_release);
  epoch_.fetch_add(1, std::memory_order_release);
  futex_wake(epoch_);
  if (others) futex_wait(handovers_, seen, 2'000'000);
}

void RunToken::wake_waiters() {
  epoch_.fetch_add(1, std::memory_order_release);
  futex_wake(epoch_);
  // And a holder that just yielded and waits (up to 2 ms) for another vCPU
  // to take the token: a kicked vCPU may never take it (it parks instead).
  // A change, not only a wake: the yielder may not be asleep yet.
  handovers_.fetch_add(1, std::memory_order_release);
  futex_wake(handovers_);
}

}  // namespace hsls::accel::tcg
