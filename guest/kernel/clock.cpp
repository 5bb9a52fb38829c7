#include "kernel/clock.h"

#include "arch/x86/cpu.h"
#include "arch/x86/intr.h"
#include "arch/x86/lapic.h"
#include "arch/x86/pit.h"
#include "kernel/percpu.h"
#include "kernel/console.h"

u64 Clock::lapic_hz_ = 1000000000;
u64 Clock::tsc_per_us_ = 1000;
bool Clock::measured_ = false;
bool Clock::virtual_ = false;

namespace {

constexpr u16 CLOCK_PORT_LO = 0x5c0, CLOCK_PORT_HI = 0x5c4;  // the VMM's clock device
constexpr u64 CR4_TSD = 1u << 2;

// Whether the VMM announces a virtual clock (hypervisor leaves, "HyperSLS-VMM").
bool vmm_virtual_clock() {
  u32 a, b, c, d;
  x86::cpuid(1, a, b, c, d);
  if (!(c & (1u << 31))) return false;  // no hypervisor
  x86::cpuid(0x40000000, a, b, c, d);
  if (a < 0x40000001 || b != 0x65707948 || c != 0x534c5372 || d != 0x4d4d562d) return false;  // "Hype" "rSLS" "-VMM"
  x86::cpuid(0x40000001, a, b, c, d);
  return a & 1;
}

// The clock device's 64-bit count: high, low, high again until stable.
u64 read_clock_device() {
  for (;;) {
    u32 hi = x86::inl(CLOCK_PORT_HI);
    u32 lo = x86::inl(CLOCK_PORT_LO);
    if (x86::inl(CLOCK_PORT_HI) == hi) return (u64(hi) << 32) | lo;
  }
}

}  // namespace

u64 Clock::now() { return virtual_ ? read_clock_device() : x86::rdtsc(); }

void Clock::setup_cpu() {
  if (virtual_) x86::write_cr4(x86::read_cr4() | CR4_TSD);
}

bool Clock::emulate_user_tsc(Frame* f) {
  if (!virtual_) return false;
  const u8* ip = reinterpret_cast<const u8*>(f->rip);
  u64 bytes = 0;
  if (!probe_read64(ip, &bytes)) return false;
  unsigned len = 0;
  if ((bytes & 0xffff) == 0x310f) len = 2;                 // rdtsc: 0f 31
  else if ((bytes & 0xffffff) == 0xf9010f) len = 3;        // rdtscp: 0f 01 f9
  if (!len) return false;
  u64 t = read_clock_device();
  f->rax = u32(t);
  f->rdx = t >> 32;
  if (len == 3) f->rcx = Cpu::current().id;  // TSC_AUX as this kernel would set it: the CPU number
  f->rip += len;
  return true;
}

void Clock::calibrate() {
  if (vmm_virtual_clock()) {
    virtual_ = true;  // the VMM's LAPIC timer and clock both run at 1 GHz of guest time
    lapic_hz_ = 1000000000;
    tsc_per_us_ = 1000;
    measured_ = true;
    kprintf("clock: virtual (deterministic machine), 1 GHz\n");
    setup_cpu();
    return;
  }
  constexpr u32 WINDOW = Pit::HZ / 100;  // 10 ms
  Pit::start();
  u16 prev = Pit::count();
  Lapic::start_countdown();
  u64 tsc0 = now();
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
  u64 tsc1 = now();
  Pit::stop();
  if (elapsed < WINDOW) return;

  u64 lapic = u64(0xffffffffu - left) * 16 * Pit::HZ / elapsed;
  u64 tsc = (tsc1 - tsc0) * Pit::HZ / elapsed;
  if (lapic < 1000000 || lapic > 10000000000ull || tsc < 100000000 || tsc > 100000000000ull) return;
  lapic_hz_ = lapic;
  tsc_per_us_ = tsc / 1000000;
  measured_ = true;
}

u64 Clock::deadline(u64 us) { return now() + us * tsc_per_us_; }

bool Clock::passed(u64 deadline) { return i64(now() - deadline) >= 0; }

void Clock::spin_us(u64 us) {
  u64 end = deadline(us);
  while (!passed(end)) x86::pause();
}
