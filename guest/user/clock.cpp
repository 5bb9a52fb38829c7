// clock: a pause detector. A thread reads the TSC in a tight loop in user
// mode and records the gaps between consecutive reads: the largest ones and
// how many exceeded the threshold. A big forward jump (a checkpoint restore)
// is just a gap; a backward step is counted apart.
//
// Arguments: threshold=US (100), cpu=N (pin the sampler; default: any).
// Commands: "clock report" prints
//   clock: max_gap_us=X gaps>100us=N samples=S top_us=a,b,... backwards=B
// and "clock reset" clears the figures.
#include "user/ulib.h"

namespace {

constexpr unsigned TOP = 8;

u64 threshold_us = 100;
volatile bool reset_req = true;
volatile u64 max_gap, gaps, samples, backwards;
volatile u64 top[TOP];  // largest gaps, descending (TSC ticks)
u::Lock stats_lock;     // report vs. sampler updates of the figures

void sampler(void*) {
  u64 thr = threshold_us * u::tsc_per_us;
  u64 prev = u::rdtsc();
  u64 n = 0;
  for (;;) {
    u64 t = u::rdtsc();
    n++;
    if (t < prev) {
      backwards = backwards + 1;
      prev = t;
      continue;
    }
    u64 d = t - prev;
    prev = t;
    if (d > thr || reset_req || (n & 0xfffff) == 0) {
      stats_lock.lock();
      if (reset_req) {
        max_gap = 0;
        gaps = 0;
        backwards = 0;
        for (unsigned i = 0; i < TOP; i++) top[i] = 0;
        n = 0;
        reset_req = false;
        d = 0;
      }
      if (d > max_gap) max_gap = d;
      if (d > thr) {
        gaps = gaps + 1;
        unsigned i = TOP;
        while (i > 0 && top[i - 1] < d) i--;
        if (i < TOP) {
          for (unsigned k = TOP - 1; k > i; k--) top[k] = top[k - 1];
          top[i] = d;
        }
      }
      samples = n;
      stats_lock.unlock();
      prev = u::rdtsc();  // do not count our own bookkeeping
    }
  }
}

void control(const char* cmd) {
  if (!strcmp(cmd, "reset")) {
    reset_req = true;
    u::print("clock: reset\n");
    return;
  }
  if (strcmp(cmd, "report")) {
    u::print("clock: unknown command '%s' (try: report, reset)\n", cmd);
    return;
  }
  stats_lock.lock();
  u64 m = max_gap, g = gaps, s = samples, b = backwards, t[TOP];
  for (unsigned i = 0; i < TOP; i++) t[i] = top[i];
  stats_lock.unlock();
  char list[128];
  unsigned len = 0;
  for (unsigned i = 0; i < TOP && t[i]; i++) {
    char num[24];
    u64 us = t[i] / u::tsc_per_us;
    int k = 0;
    do num[k++] = char('0' + us % 10), us /= 10;
    while (us);
    if (len && len < sizeof list - 1) list[len++] = ',';
    while (k && len < sizeof list - 1) list[len++] = num[--k];
  }
  if (!len) list[len++] = '-';
  list[len] = 0;
  u::print("clock: max_gap_us=%lu gaps>%luus=%lu samples=%lu top_us=%s backwards=%lu\n", m / u::tsc_per_us, threshold_us,
           g, s, list, b);
}

}  // namespace

int main(int argc, const char* const* argv) {
  threshold_us = u::arg_num(argc, argv, "threshold", threshold_us);
  u64 cpu = u::arg_num(argc, argv, "cpu", ~0ull);
  u::print("clock: started threshold=%luus tsc=%lu kHz\n", threshold_us, u::tsc_hz / 1000);
  u::serve_control(control);
  if (cpu != ~0ull) {
    u::thread_start(sampler, nullptr, int(cpu));
    for (;;) u::sleep_us(1000000000);
  }
  sampler(nullptr);
  return 0;
}
