#include "kernel/clock.h"

#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "arch/x86/pit.h"

u64 Clock::lapic_hz_ = 1000000000;
u64 Clock::tsc_per_us_ = 1000;
bool Clock::measured_ = false;

void Clock::calibrate() {
  constexpr u32 WINDOW = Pit::HZ / 100;  // 10 ms
  Pit::start();
  u16 prev = Pit::count();
  Lapic::start_countdown();
  u64 tsc0 = x86::rdtsc();
  u32 elapsed = 0;
  unsigned unchanged = 0;
  for (unsigned i = 0; elapsed < WINDOW && i < 200000 && unchanged < 1000; i++) {
    u16 now = Pit::count();
    if (now == prev) {
      unchanged++;
      continue;
    }
    unchanged = 0;
    elapsed += u16(prev - now);
    prev = now;
  }
  u32 left = Lapic::timer_count();
  u64 tsc1 = x86::rdtsc();
  Pit::stop();
  if (elapsed < WINDOW) return;

  u64 lapic = u64(0xffffffffu - left) * 16 * Pit::HZ / elapsed;
  u64 tsc = (tsc1 - tsc0) * Pit::HZ / elapsed;
  if (lapic < 1000000 || lapic > 10000000000ull || tsc < 100000000 || tsc > 100000000000ull) return;
  lapic_hz_ = lapic;
  tsc_per_us_ = tsc / 1000000;
  measured_ = true;
}

u64 Clock::deadline(u64 us) { return x86::rdtsc() + us * tsc_per_us_; }

bool Clock::passed(u64 deadline) { return i64(x86::rdtsc() - deadline) >= 0; }

void Clock::spin_us(u64 us) {
  u64 end = deadline(us);
  while (!passed(end)) x86::pause();
}
