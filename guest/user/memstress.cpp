// memstress: threads write to a working set of W pages at a target rate
// with a hot/cold skew, and report "memstress: writes/s=X pages=W".
//
// Arguments (key=value, comma separated): pages=W (1000), rate=R total
// writes per second (20000; 0 = as fast as possible), hot=H percent of the
// pages that are hot (10), hotpct=P percent of the writes that go to the hot
// pages (90), threads=T (1), report=MS period of the report line (1000; 0 =
// only when asked). Each write increments one 8-byte word in one page; the
// loop paces itself with the TSC and makes no system call. A backlog (after
// a pause, or a restore) is capped at 100 ms of writes.
// Command (serial "memstress report"): prints the report line now.
#include "user/ulib.h"

namespace {

struct alignas(64) PerThread {
  volatile u64 writes;
};

u64 pages = 1000, rate = 20000, hot_pct_pages = 10, hot_pct_writes = 90, nthreads = 1, report_ms = 1000;
u64 hot_pages;
volatile u64* mem;
PerThread per[8];
u64 last_rate;        // writes/s of the last full report period
u64 last_total, last_tsc;
u::Lock report_lock;

void report(bool periodic) {
  report_lock.lock();
  u64 total = 0;
  for (u64 i = 0; i < nthreads; i++) total += per[i].writes;
  u64 now = u::rdtsc();
  u64 dt = now - last_tsc;
  if (periodic || dt > u::tsc_hz / 4) {
    // writes/s over the interval since the last report
    last_rate = dt ? (total - last_total) * (u::tsc_hz / 1000) / (dt / 1000 ? dt / 1000 : 1) : 0;
    last_total = total;
    last_tsc = now;
  }
  u64 r = last_rate;
  report_lock.unlock();
  u::print("memstress: writes/s=%lu pages=%lu target=%lu hot=%lu%%/%lu%% threads=%lu total=%lu\n", r, pages, rate,
           hot_pct_pages, hot_pct_writes, nthreads, total);
}

void writer(void* arg) {
  u64 id = u64(arg);
  u64 x = 0x9e3779b97f4a7c15ull * (id + 1) ^ u::rdtsc();
  u64 my_rate = rate / nthreads + (id < rate % nthreads ? 1 : 0);
  // Pacing in 16.16 fixed point TSC ticks per write, relative to t0.
  u64 step = my_rate ? (u::tsc_hz << 16) / my_rate : 0;
  u64 t0 = u::rdtsc();
  u64 due = 0;
  u64 report_ticks = report_ms * (u::tsc_hz / 1000);
  u64 next_report = t0 + report_ticks;
  u64 cold = pages > hot_pages ? pages - hot_pages : 0;
  for (;;) {
    u64 now = u::rdtsc();
    u64 rel = now - t0;
    u64 batch = 0;
    if (!step) {
      batch = 256;
    } else {
      u64 cap = u::tsc_hz / 10;  // at most 100 ms of backlog
      if (rel > cap && (due >> 16) < rel - cap) due = (rel - cap) << 16;
      while ((due >> 16) <= rel && batch < 4096) {
        due += step;
        batch++;
      }
    }
    for (u64 b = 0; b < batch; b++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      u64 page;
      if (!cold || (x % 100) < hot_pct_writes) page = (x >> 8) % hot_pages;
      else page = hot_pages + (x >> 8) % cold;
      volatile u64& w = mem[page * 512 + ((x >> 40) & 511)];
      w = w + 1;
    }
    if (batch) per[id].writes = per[id].writes + batch;
    else asm volatile("pause");
    if (id == 0 && report_ticks && now >= next_report) {
      next_report += report_ticks;
      if (next_report < now) next_report = now + report_ticks;
      report(true);
    }
  }
}

void control(const char* cmd) {
  if (!strcmp(cmd, "report")) report(false);
  else u::print("memstress: unknown command '%s' (try: report)\n", cmd);
}

}  // namespace

int main(int argc, const char* const* argv) {
  pages = u::arg_num(argc, argv, "pages", pages);
  rate = u::arg_num(argc, argv, "rate", rate);
  hot_pct_pages = u::arg_num(argc, argv, "hot", hot_pct_pages);
  hot_pct_writes = u::arg_num(argc, argv, "hotpct", hot_pct_writes);
  nthreads = u::arg_num(argc, argv, "threads", nthreads);
  report_ms = u::arg_num(argc, argv, "report", report_ms);
  if (!pages) pages = 1;
  if (nthreads < 1) nthreads = 1;
  if (nthreads > 8) nthreads = 8;
  if (hot_pct_pages > 100) hot_pct_pages = 100;
  if (hot_pct_writes > 100) hot_pct_writes = 100;
  hot_pages = pages * hot_pct_pages / 100;
  if (!hot_pages) hot_pages = 1;
  mem = static_cast<volatile u64*>(u::map_anon(pages));
  if (!mem) {
    u::print("memstress: cannot map %lu pages\n", pages);
    return 1;
  }
  for (u64 p = 0; p < pages; p++) mem[p * 512] = 0;  // commit the working set now
  u::print("memstress: started pages=%lu rate=%lu hot=%lu%% hotpct=%lu%% threads=%lu\n", pages, rate, hot_pct_pages,
           hot_pct_writes, nthreads);
  last_tsc = u::rdtsc();
  u::serve_control(control);
  for (u64 i = 1; i < nthreads; i++) u::thread_start(writer, reinterpret_cast<void*>(i));
  writer(nullptr);
  return 0;
}
