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

}  // namespace hsls
