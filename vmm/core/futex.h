// Sleeping on a 32-bit atomic word until another thread changes it (Linux
// futexes, process-private): for waits that must also work when the thread
// waited for shares this thread's CPU, where spinning would only delay it.
#pragma once
#include <atomic>
#include <cstdint>

namespace hsls {

// Sleeps while `word` holds `expected`: returns on a change, a wake, a
// signal or after `timeout_ns` (-1: none).
void futex_wait(const std::atomic<uint32_t>& word, uint32_t expected, int64_t timeout_ns = -1);
// Wakes up to `count` sleepers on `word`.
void futex_wake(const std::atomic<uint32_t>& word, int count = 1 << 30);

// Counts the threads asleep on a futex word, so that a wake with none asleep
// costs no system call (~1 us each on a PVM guest; a checkpoint's pause made
// several). A sleeper is counted before the kernel compares the word, and a
// waker changes the word (a seq_cst read-modify-write) before it reads the
// count: one of the two always sees the other, so no wake is lost.
class FutexSleepers {
 public:
  // futex_wait, counted.
  void wait(const std::atomic<uint32_t>& word, uint32_t expected, int64_t timeout_ns = -1) {
    n_.fetch_add(1, std::memory_order_seq_cst);
    futex_wait(word, expected, timeout_ns);
    n_.fetch_sub(1, std::memory_order_relaxed);
  }
  // futex_wake, if anyone sleeps on `word`. The caller changed `word` first,
  // as bump() does.
  void wake(const std::atomic<uint32_t>& word, int count = 1 << 30) const {
    if (n_.load(std::memory_order_seq_cst) != 0) futex_wake(word, count);
  }
  // Changes `word` and wakes its sleepers: what every waker does.
  void bump(std::atomic<uint32_t>& word) const {
    word.fetch_add(1, std::memory_order_seq_cst);
    wake(word);
  }

 private:
  std::atomic<uint32_t> n_{0};
};

}  // namespace hsls
