// FutexSleepers: wakes with nobody asleep make no system call, and no wake
// is lost to the race between a sleeper going to sleep and a waker.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "vmm/core/futex.h"

using hsls::FutexSleepers;

TEST_CASE("futex sleepers: a sleeper counted by wait() is woken by wake()") {
  std::atomic<uint32_t> word{0};
  FutexSleepers sleepers;
  std::atomic<bool> done{false};
  std::thread sleeper([&] {
    while (word.load() == 0) sleepers.wait(word, 0, 5'000'000'000);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // asleep by now, most likely
  CHECK_FALSE(done.load());
  auto t0 = std::chrono::steady_clock::now();
  word.fetch_add(1, std::memory_order_seq_cst);
  sleepers.wake(word);
  sleeper.join();
  // Woken, not timed out (5 s).
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
}

TEST_CASE("futex sleepers: 20000 handovers between two threads lose no wake") {
  // Each thread waits for its turn on the word and passes it on; a lost
  // wake leaves a thread asleep until its 2 s timeout, which is counted.
  std::atomic<uint32_t> turn{0};
  FutexSleepers sleepers;
  std::atomic<int> timeouts{0};
  constexpr uint32_t kRounds = 20000;
  auto player = [&](uint32_t me) {
    for (uint32_t r = me; r < kRounds && timeouts.load() == 0; r += 2) {
      for (uint32_t seen; (seen = turn.load(std::memory_order_acquire)) != r && timeouts.load() == 0;) {
        auto t0 = std::chrono::steady_clock::now();
        sleepers.wait(turn, seen, 2'000'000'000);
        if (std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(1900)) timeouts.fetch_add(1);  // not woken
      }
      sleepers.bump(turn);
    }
    if (timeouts.load() != 0) {  // after a loss: the other player stops too, not after 2 s per round
      turn.fetch_add(1u << 30, std::memory_order_seq_cst);
      sleepers.wake(turn);
    }
  };
  std::thread a(player, 0), b(player, 1);
  a.join();
  b.join();
  CHECK(timeouts.load() == 0);
  CHECK(turn.load() == kRounds);
}
