#include "vmm/accel/tcg/run_token.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace hsls::accel::tcg {

void futex_wait(const std::atomic<uint32_t>& word, uint32_t expected, int64_t timeout_ns) {
  timespec ts{};
  timespec* tp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = timeout_ns / 1'000'000'000;
    ts.tv_nsec = timeout_ns % 1'000'000'000;
    tp = &ts;
  }
  ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, tp, nullptr, 0);
}

void futex_wake(const std::atomic<uint32_t>& word, int count) {
  ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

bool RunToken::acquire(unsigned who, const std::atomic<bool>& kicked) {
  uint32_t free = 0;
  if (holder_.compare_exchange_strong(free, who + 1, std::memory_order_acquire)) {
    handovers_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  waiting_.fetch_add(1, std::memory_order_relaxed);
  for (;;) {
    uint32_t e = epoch_.load(std::memory_order_acquire);
    if (kicked.load(std::memory_order_acquire)) {
      waiting_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    uint32_t h = 0;
    if (holder_.compare_exchange_strong(h, who + 1, std::memory_order_acquire)) break;
    futex_wait(epoch_, e);
  }
  waiting_.fetch_sub(1, std::memory_order_relaxed);
  handovers_.fetch_add(1, std::memory_order_release);
  futex_wake(handovers_);
  return true;
}

void RunToken::release(unsigned, bool yield) {
  bool others = yield && contended();
  uint32_t seen = handovers_.load(std::memory_order_acquire);
  holder_.store(0, std::memory_order_release);
  epoch_.fetch_add(1, std::memory_order_release);
  futex_wake(epoch_);
  if (others) futex_wait(handovers_, seen, 2'000'000);
}

void RunToken::wake_waiters() {
  epoch_.fetch_add(1, std::memory_order_release);
  futex_wake(epoch_);
}

}  // namespace hsls::accel::tcg
