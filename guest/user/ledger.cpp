// ledger: a self-checking workload for crash tests.
//
// Threads on different CPUs append records to a hash-chained log in memory
// and keep per-thread counters (records appended, sum of their values) that
// must agree with the log. Each record holds its sequence number, the hash of
// the previous record and its payload (thread, value), and its own hash. An
// append (checks, record, chain head, counters) is one critical section under
// a user-space lock; each thread also keeps its own count in a register /
// on its stack and checks it against memory before each append, so lost
// registers or stack pages show up too. When the log is full it is folded
// into a base (sequence, hash, counters) and restarted.
//
// Verification recomputes the whole chain from the base, every hash, and the
// counters, and compares them with the header: at start, every verify=MS
// milliseconds (default 2000; 0 = never) and on "ledger verify". It prints
// "ledger ok records=N" (N = records appended in all) or "ledger CORRUPT:
// <what>" and exits with 2.
//
// Arguments: threads=T (2), rate=R appends per second per thread (1000; 0 =
// as fast as possible), records=C log capacity (4096; 32 bytes each).
#include "user/ulib.h"

namespace {

constexpr u64 MAGIC = 0x4c45444745523031ull;  // "LEDGER01"
constexpr unsigned MAX_THREADS = 8;

struct Record {
  u64 seq;
  u64 prev;     // hash of the previous record (base hash for the first)
  u64 payload;  // thread << 56 | value
  u64 hash;
};

struct Header {
  u64 magic;
  u64 capacity;
  u64 used;       // records in the log
  u64 next_seq;   // records appended in all
  u64 head_hash;  // hash of the last record (or base_hash)
  u64 base_seq, base_hash;
  u64 base_count[MAX_THREADS], base_sum[MAX_THREADS];
  u64 count[MAX_THREADS], sum[MAX_THREADS];
  u64 folds;
  u::Lock lock;
};

Header* h;
Record* log;
u64 nthreads = 2, rate = 1000, verify_ms = 2000;

u64 mix(u64 x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

u64 record_hash(u64 seq, u64 prev, u64 payload) { return mix(seq ^ mix(prev ^ mix(payload + 0x51ed270b27e8c5dbull))); }

[[noreturn]] void corrupt(const char* what, u64 a, u64 b) {
  u::print("ledger CORRUPT: %s (%lu vs %lu)\n", what, a, b);
  u::exit(2);
}

// Verifies the whole structure; the lock must be held.
void verify_locked() {
  if (h->magic != MAGIC) corrupt("bad magic", h->magic, MAGIC);
  if (h->used > h->capacity) corrupt("log length past capacity", h->used, h->capacity);
  u64 count[MAX_THREADS], sum[MAX_THREADS];
  for (unsigned t = 0; t < MAX_THREADS; t++) count[t] = h->base_count[t], sum[t] = h->base_sum[t];
  u64 seq = h->base_seq, prev = h->base_hash;
  for (u64 i = 0; i < h->used; i++) {
    const Record& r = log[i];
    if (r.seq != seq) corrupt("record sequence number", r.seq, seq);
    if (r.prev != prev) corrupt("record chain link broken at seq", r.seq, seq);
    if (r.hash != record_hash(r.seq, r.prev, r.payload)) corrupt("record hash mismatch at seq", r.seq, r.hash);
    u64 t = r.payload >> 56;
    if (t >= MAX_THREADS) corrupt("record thread id", t, MAX_THREADS);
    count[t]++;
    sum[t] += r.payload & ((1ull << 56) - 1);
    prev = r.hash;
    seq++;
  }
  if (seq != h->next_seq) corrupt("log ends before the header's sequence", seq, h->next_seq);
  if (prev != h->head_hash) corrupt("chain head hash", prev, h->head_hash);
  u64 total = 0;
  for (unsigned t = 0; t < MAX_THREADS; t++) {
    if (count[t] != h->count[t]) corrupt("thread counter disagrees with the log", count[t], h->count[t]);
    if (sum[t] != h->sum[t]) corrupt("thread sum disagrees with the log", sum[t], h->sum[t]);
    total += count[t];
  }
  if (total != h->next_seq) corrupt("counters do not add up to the records", total, h->next_seq);
}

void verify(const char* why) {
  h->lock.lock();
  verify_locked();
  u64 n = h->next_seq, folds = h->folds;
  h->lock.unlock();
  u::print("ledger ok records=%lu folds=%lu (%s)\n", n, folds, why);
}

void appender(void* arg) {
  u64 t = u64(arg);
  u64 mine = 0;  // this thread's own count: must match h->count[t]
  u64 x = mix(t + 1) ^ u::rdtsc();
  u64 step = rate ? (u::tsc_hz << 16) / rate : 0;
  u64 t0 = u::rdtsc(), due = 0;
  for (;;) {
    if (step) {
      u64 rel = u::rdtsc() - t0;
      u64 cap = u::tsc_hz / 10;
      if (rel > cap && (due >> 16) < rel - cap) due = (rel - cap) << 16;
      if ((due >> 16) > rel) {
        // Ahead of the rate: sleep rather than spin (the kernel wakes
        // sleepers at its tick; the appends behind schedule then come in a
        // burst). A spin would keep the CPU busy, and on a deterministic
        // machine each rdtsc is a trap.
        u::sleep_us(((due >> 16) - rel) / u::tsc_per_us + 1);
        continue;
      }
      due += step;
    }
    x = mix(x);
    u64 value = x & ((1ull << 40) - 1);
    h->lock.lock();
    if (h->count[t] != mine) corrupt("thread's own count disagrees with its counter", mine, h->count[t]);
    if (h->used == h->capacity) {  // fold the log into the base
      h->base_seq = h->next_seq;
      h->base_hash = h->head_hash;
      for (unsigned k = 0; k < MAX_THREADS; k++) h->base_count[k] = h->count[k], h->base_sum[k] = h->sum[k];
      h->used = 0;
      h->folds++;
    }
    Record& r = log[h->used];
    r.seq = h->next_seq;
    r.prev = h->head_hash;
    r.payload = (t << 56) | value;
    r.hash = record_hash(r.seq, r.prev, r.payload);
    h->head_hash = r.hash;
    h->used++;
    h->next_seq++;
    h->count[t]++;
    h->sum[t] += value;
    mine++;
    h->lock.unlock();
  }
}

void verifier(void*) {
  for (;;) {
    u::sleep_us(verify_ms * 1000);
    verify("periodic");
  }
}

void control(const char* cmd) {
  if (!strcmp(cmd, "verify")) verify("asked");
  else u::print("ledger: unknown command '%s' (try: verify)\n", cmd);
}

}  // namespace

int main(int argc, const char* const* argv) {
  nthreads = u::arg_num(argc, argv, "threads", nthreads);
  rate = u::arg_num(argc, argv, "rate", rate);
  verify_ms = u::arg_num(argc, argv, "verify", verify_ms);
  u64 capacity = u::arg_num(argc, argv, "records", 4096);
  if (nthreads < 1) nthreads = 1;
  if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
  if (capacity < 16) capacity = 16;
  u64 pages = 1 + (capacity * sizeof(Record) + 4095) / 4096;
  char* mem = static_cast<char*>(u::map_anon(pages));
  if (!mem) {
    u::print("ledger: cannot map %lu pages\n", pages);
    return 1;
  }
  h = reinterpret_cast<Header*>(mem);
  log = reinterpret_cast<Record*>(mem + 4096);
  h->magic = MAGIC;
  h->capacity = capacity;
  h->base_hash = h->head_hash = mix(MAGIC);
  verify("start");
  u::serve_control(control);
  if (verify_ms) u::thread_start(verifier, nullptr);
  for (u64 t = 1; t < nthreads; t++) u::thread_start(appender, reinterpret_cast<void*>(t), int(t % u::ncpus));
  appender(nullptr);
  return 0;
}
