// The software CPU's run token: one vCPU runs guest code at a time; a
// waiter tells its idle marker when it sleeps and wakes (so that a
// checkpoint can hold an idle vCPU without waking it), and a kick ends a
// wait without the token.
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "vmm/accel/tcg/run_token.h"

using hsls::accel::tcg::RunToken;

namespace {

// Counts the sleeps and wake-ups a waiter reports.
struct CountingIdle {
  std::atomic<int> entered{0}, left{0};
  void enter() { entered.fetch_add(1); }
  void leave() { left.fetch_add(1); }
};

// Whether thread `tid` of this process is blocked (state S in /proc).
bool sleeping(pid_t tid) {
  if (tid == 0) return false;
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(f, line);
  auto close = line.rfind(')');  // the name may hold spaces; the state follows it
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'S';
}

// Spins (yielding) until `done()`; false after ~10 s.
template <typename Done>
bool eventually(Done done) {
  for (int i = 0; i < 10'000'000 && !done(); ++i) std::this_thread::yield();
  return done();
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST_CASE("run token: a free token is taken at once, without sleeping") {
  RunToken token;
  std::atomic<bool> kicked{false};
  CountingIdle idle;
  CHECK(token.acquire_turn(0, kicked, idle));
  CHECK(idle.entered == 0);
  CHECK(idle.left == 0);
  CHECK_FALSE(token.contended());
  token.release(0);
}

TEST_CASE("run token: a waiter sleeps as idle until the holder releases, then holds the token") {
  RunToken token;
  std::atomic<bool> never{false};
  REQUIRE(token.acquire(0, never));
  CountingIdle idle;
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    got = token.acquire_turn(1, never, idle);
    token.release(1);
  });
  REQUIRE(eventually([&] { return token.contended() && idle.entered.load() >= 1; }));
  CHECK_FALSE(got.load());
  token.release(0);
  waiter.join();
  CHECK(got.load());
  CHECK(idle.left.load() == idle.entered.load());  // every sleep ended with a wake-up
}

TEST_CASE("run token: a kick ends a wait without the token") {
  RunToken token;
  std::atomic<bool> never{false}, kicked{false};
  REQUIRE(token.acquire(0, never));
  CountingIdle idle;
  std::atomic<int> result{-1};
  std::thread waiter([&] { result = token.acquire_turn(1, kicked, idle) ? 1 : 0; });
  REQUIRE(eventually([&] { return idle.entered.load() >= 1; }));
  kicked = true;
  token.wake_waiters();
  waiter.join();
  CHECK(result.load() == 0);
  CHECK_FALSE(token.contended());
  // The holder still holds it: a third party cannot take it.
  std::atomic<bool> kicked2{true};
  CHECK_FALSE(token.acquire(2, kicked2));
  token.release(0);
}

TEST_CASE("run token: a holder's turn should end when another vCPU can run, not for a halted one") {
  RunToken token;
  CHECK_FALSE(token.others_want(0));
  token.set_runnable(0, true);
  CHECK_FALSE(token.others_want(0));  // only itself
  token.set_runnable(1, true);
  CHECK(token.others_want(0));  // vCPU 1 can run: on a shared CPU it may not have reached acquire() yet
  CHECK(token.others_want(1));
  token.set_runnable(1, false);  // halted
  CHECK_FALSE(token.others_want(0));
  // A waiter (a harvest, say) counts whatever the runnable set says.
  std::atomic<bool> never{false};
  REQUIRE(token.acquire(0, never));
  std::atomic<bool> got{false};
  std::thread harvest([&] {
    got = token.acquire_asking(9, [] {}, 10'000'000'000);
    token.release(9);
  });
  REQUIRE(eventually([&] { return token.contended(); }));
  CHECK(token.others_want(0));
  token.release(0);
  harvest.join();
  CHECK(got.load());
}

TEST_CASE("run token: a quiet release leaves the waiter asleep until the deferred wake") {
  RunToken token;
  std::atomic<bool> never{false};
  REQUIRE(token.acquire(0, never));
  CountingIdle idle;
  std::atomic<bool> got{false};
  std::atomic<pid_t> tid{0};
  std::thread waiter([&] {
    tid = gettid();
    got = token.acquire_turn(1, never, idle);
    token.release(1);
  });
  REQUIRE(eventually([&] { return token.contended() && idle.entered.load() >= 1; }));
  // Asleep in the futex, not only about to sleep (a waiter not yet asleep
  // sees a quiet release by design, and takes the token).
  REQUIRE(eventually([&] { return sleeping(tid.load()); }));
  token.release_quietly();  // the releaser leads a checkpoint: the waiter is not woken
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(got.load());
  CHECK(idle.left.load() == idle.entered.load() - 1);  // still asleep
  token.wake_deferred();  // the pause's end
  waiter.join();
  CHECK(got.load());
  token.wake_deferred();  // once only: nothing is owed any more
}

TEST_CASE("run token: a yielding holder is idle while it waits for the next vCPU to take the token") {
  RunToken token;
  std::atomic<bool> never{false};
  token.set_runnable(0, true);
  token.set_runnable(1, true);
  REQUIRE(token.acquire(0, never));
  CountingIdle waiter_idle, yielder_idle;
  std::atomic<bool> taken{false}, yielded{false};
  std::thread waiter([&] {
    CHECK(token.acquire_turn(1, never, waiter_idle));
    taken = true;
    // Hold the token until the yielder has been seen idle in its wait.
    CHECK(eventually([&] { return yielded.load() || yielder_idle.entered.load() >= 1; }));
    token.release(1);
  });
  REQUIRE(eventually([&] { return token.contended(); }));
  token.release(0, true, yielder_idle);  // waits (idle) until vCPU 1 took the token
  yielded = true;
  waiter.join();
  CHECK(taken.load());
  CHECK(yielder_idle.entered.load() == 1);
  CHECK(yielder_idle.left.load() == 1);
}

// On a CPU the vCPUs share, waking the taker may preempt the releaser at
// once, for the taker's whole turn: the releaser must already be idle then,
// so that a checkpoint led meanwhile holds it instead of waiting for it.
TEST_CASE("run token: a releaser is idle before the token is free, and until its release is over") {
  for (bool yield : {false, true}) {
    CAPTURE(yield);
    RunToken token;
    std::atomic<bool> never{false};
    REQUIRE(token.acquire(0, never));
    struct Probe {
      RunToken& token;
      bool free_at_enter = true, free_at_leave = false;
      int entered = 0, left = 0;
      void enter() {
        ++entered;
        std::atomic<bool> at_once{true};  // kicked already: takes a free token, never waits
        free_at_enter = token.acquire(1, at_once);  // would a taker get it now?
        if (free_at_enter) token.release(1);
      }
      void leave() {
        ++left;
        std::atomic<bool> at_once{true};
        free_at_leave = token.acquire(1, at_once);
        if (free_at_leave) token.release(1);
      }
    } probe{token};
    token.release(0, yield, probe);  // nobody waits: a yield does not wait for a taker
    CHECK(probe.entered == 1);
    CHECK(probe.left == 1);
    CHECK_FALSE(probe.free_at_enter);  // idle while it still held the token
    CHECK(probe.free_at_leave);        // and the token was free by the end
  }
}

TEST_CASE("run token: a turn paused to lead a checkpoint goes on before another vCPU's begins") {
  RunToken token;
  std::atomic<bool> never{false};
  CountingIdle idle0, idle1;
  REQUIRE(token.acquire_turn(0, never, idle0));
  std::atomic<int> order{0}, waiter_at{0};
  std::thread waiter([&] {
    CHECK(token.acquire_turn(1, never, idle1));
    waiter_at = order.fetch_add(1) + 1;
    token.release(1);
  });
  REQUIRE(eventually([&] { return token.contended(); }));
  // vCPU 0 ends its turn to lead; its slice has 10 s left.
  token.release_for_lead(0, hsls::monotonic_ns() + 10'000'000'000ull);
  token.wake_deferred();  // the pause's end wakes vCPU 1: it must still wait
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(waiter_at.load() == 0);
  // A state read (not a turn) is not held back by it.
  REQUIRE(token.acquire(1, never));
  token.release(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(waiter_at.load() == 0);
  REQUIRE(token.acquire_turn(0, never, idle0));  // vCPU 0's turn goes on
  int mine = order.fetch_add(1) + 1;
  token.release(0);  // its slice ends: vCPU 1 takes its turn
  waiter.join();
  CHECK(mine == 1);
  CHECK(waiter_at.load() == 2);
}

TEST_CASE("run token: a paused turn that does not go on lets the others run") {
  SUBCASE("its vCPU goes idle") {
    RunToken token;
    std::atomic<bool> never{false};
    CountingIdle idle1;
    REQUIRE(token.acquire(0, never));
    token.release_for_lead(0, hsls::monotonic_ns() + 10'000'000'000ull);
    std::atomic<bool> got{false};
    std::thread waiter([&] {
      got = token.acquire_turn(1, never, idle1);
      token.release(1);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    CHECK_FALSE(got.load());
    token.drop_reservation(0);
    waiter.join();
    CHECK(got.load());
  }
  SUBCASE("its slice ends") {
    RunToken token;
    std::atomic<bool> never{false};
    CountingIdle idle1;
    REQUIRE(token.acquire(0, never));
    token.release_for_lead(0, hsls::monotonic_ns() + 30'000'000ull);  // 30 ms
    auto t0 = std::chrono::steady_clock::now();
    CHECK(token.acquire_turn(1, never, idle1));
    CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(25));
    token.release(1);
  }
}

TEST_CASE("run token: a vCPU that takes the free token without waiting ends a yielder's wait for a taker") {
  RunToken token;
  token.set_owed_turn_ns(10'000'000'000);  // a missed wake would keep the yielder 10 s
  std::atomic<bool> never{false};
  CountingIdle yielder_idle, taker_idle;
  REQUIRE(token.acquire_turn(0, never, yielder_idle));
  token.set_runnable(1, true);  // vCPU 1 wants the engine, but has not reached acquire yet
  std::atomic<int64_t> returned_ns{0};
  std::thread yielder([&] {
    token.release(0, true, yielder_idle);  // waits for a taker
    returned_ns = now_ns();
  });
  REQUIRE(eventually([&] { return yielder_idle.entered.load() >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // asleep by now, not only about to
  CHECK(token.acquire_turn(1, never, taker_idle));  // the token is free: taken at once
  CHECK(taker_idle.entered.load() == 0);
  const int64_t took_ns = now_ns();
  yielder.join();
  CHECK(returned_ns.load() - took_ns < 2'000'000'000);  // not the 10 s of an unwoken wait
  token.release(1);
}
