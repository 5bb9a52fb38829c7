// The one place through which every crash-relevant write to NVM goes:
// store, copy, flush, fence, persist (libpmem underneath), plus named crash
// points. A power failure can be injected at the N-th arrival at a point;
// after it every further write through here is dropped, exactly as if the
// machine had lost power at that instant. The power-lost flag and the byte
// count live in memory shared with a forked pause copier
// (ckpt/pause_copier.h), so its copies obey the same power.
#pragma once
#include <exception>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "nvm/unfenced_lines.h"

namespace hsls::nvm {

// Where in the checkpoint protocol a power failure can be aimed.
enum class CrashPoint : unsigned {
  stopped,          // all vCPUs stopped, nothing of the checkpoint written yet
  state_saved,      // volatile state persisted in its slot
  backup_copied,    // a page copied to its backup slot, its tag not yet written
  backup_tagged,    // a backup tag persisted
  protected_pages,  // pages write-protected for copy-on-write
  journal_written,  // checkpoint record persisted, commit word not yet
  committed,        // commit word persisted, vCPUs not yet resumed
  cow_copied,       // copy-on-write: page copied, tag not yet written
  cow_tagged,       // copy-on-write: tag persisted, page not yet writable
  restored,         // recovery: a page restored from its backup
  kCount
};

const char* crash_point_name(CrashPoint p);
std::optional<CrashPoint> crash_point_from_name(std::string_view name);
// Every point's name, in protocol order, comma-separated (for messages).
std::string crash_point_names();

// Thrown on the thread that reaches an armed point (in-process restart mode).
// Thrown where the power failed (an armed crash point, or a write after the
// failure): a std::exception, so a thread that does not expect it stops
// cleanly with one line instead of terminating the process.
struct PowerFailure : std::exception {
  explicit PowerFailure(CrashPoint p) : point(p) {}
  const char* what() const noexcept override { return "the power failed"; }
  CrashPoint point;
};

class Persist {
 public:
  // `adr`: only flushed stores survive (flush does work); otherwise eADR.
  explicit Persist(bool adr);
  ~Persist();
  Persist(const Persist&) = delete;
  Persist& operator=(const Persist&) = delete;

  bool adr() const { return adr_; }

  // Copies `len` bytes with non-temporal stores; durable after fence().
  // Uncounted, the caller counts them (count_bytes) once for a batch: the
  // counter's atomic add is a locked instruction, which waits for the
  // non-temporal stores before it to drain (one per 4 KiB page made the
  // pause's copy 52 instead of 36 us for ~112 pages here).
  void copy(void* dst, const void* src, size_t len, bool counted = true);
  // The same as copy(), with both ranges inside the attached file, through
  // the file (copy_file_range): neither mapping is touched, so no page of
  // it faults. A first touch costs ~20-40 us a page on a PVM host (two per
  // page copied through a fresh mapping) against ~2.5 us a page this way:
  // a cold start's restore step went from 2-3.4 to ~1.1 ms for 60-150 pages. Falls
  // back to copy() with no file attached, with the unfenced-line model on,
  // or if the kernel refuses. Counted.
  void copy_in_file(void* dst, const void* src, size_t len);
  // Reads `len` bytes of the mapping at `src` into `dst` (ordinary memory),
  // through the attached file when there is one (pread): a scan of a fresh
  // mapping faults on each page it reads (~20-40 us a page on a PVM host,
  // and the kernel's fault-around does not always map neighbours), so a
  // cold start's scan of 1 MiB of backup tags took ~250 faults. Reads the
  // mapping itself with no file, or with the unfenced-line model on (the
  // model's view is the mapping's).
  void read(void* dst, const void* src, size_t len) const;
  // Lets copy_in_file() and read() go through `fd`, the file mapped at [base, base+size)
  // (a page-cache file, so that the mapping and the file are the same bytes).
  void attach_file(int fd, const uint8_t* base, uint64_t size) {
    file_fd_ = fd;
    file_base_ = base;
    file_size_ = size;
  }
  void count_bytes(uint64_t n) {
    if (!power_lost()) shared_->bytes.fetch_add(n, std::memory_order_relaxed);
  }
  // Ordinary stores of `len` bytes; durable after persist().
  void write(void* dst, const void* src, size_t len);
  // An aligned 8-byte store: all or nothing across a power failure.
  // Returns false if it was dropped because the power is already gone.
  bool store64(uint64_t* dst, uint64_t value);
  // Writes back the cache lines of a range (a no-op under eADR).
  void flush(const void* addr, size_t len);
  // Orders and completes earlier stores and flushes.
  void fence();
  // flush + fence.
  void persist(const void* addr, size_t len) {
    flush(addr, len);
    fence();
  }

  // Marks arrival at a crash point; fires an armed power failure.
  void point(CrashPoint p);
  // Fires `on_fail` at the `nth` (1-based) arrival at `p` from now on.
  void arm(CrashPoint p, uint64_t nth, std::function<void(CrashPoint)> on_fail);
  void disarm();
  // Arrivals at `p` since this object was made.
  uint64_t count(CrashPoint p) const { return counts_[unsigned(p)].load(std::memory_order_relaxed); }

  // From now on every write is dropped (power is gone). With the unfenced-
  // line model on, the lines not yet durable survive or not, line by line.
  void lose_power();
  bool power_lost() const { return shared_->power_lost.load(std::memory_order_relaxed); }
  uint64_t bytes_written() const { return shared_->bytes.load(std::memory_order_relaxed); }

  // ADR, for the crash explorer: from now on remember every store not yet
  // durable (unfenced_lines.h), and at the power failure let each such line
  // survive or not, by a generator seeded with `seed`. Every write must come
  // through this object then (a forked pause copier's would escape it).
  void track_unfenced(uint64_t seed, UnfencedLines::Policy policy = UnfencedLines::Policy::random);
  // Lines the model put back to their old bytes at the power failure.
  size_t lines_dropped() const { return dropped_; }

 private:
  bool adr_;
  struct Shared {
    std::atomic<bool> power_lost{false};
    std::atomic<uint64_t> bytes{0};
  };
  Shared* shared_;  // in a MAP_SHARED page
  std::array<std::atomic<uint64_t>, unsigned(CrashPoint::kCount)> counts_{};
  std::mutex arm_mu_;
  std::atomic<int> armed_point_{-1};
  uint64_t armed_at_ = 0;
  std::function<void(CrashPoint)> on_fail_;
  int file_fd_ = -1;  // attach_file()
  const uint8_t* file_base_ = nullptr;
  uint64_t file_size_ = 0;
  std::unique_ptr<UnfencedLines> unfenced_;  // null unless track_unfenced()
  std::mutex unfenced_mu_;                   // a write and its record in the model are one step
  size_t dropped_ = 0;
};

}  // namespace hsls::nvm
