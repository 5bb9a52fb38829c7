#include "vmm/core/write_guard.h"

#include <algorithm>

namespace hsls {

WriteGuard::WriteGuard(uint64_t pages, Backup backup)
    : pages_(pages), bits_(std::make_unique<std::atomic<uint64_t>[]>((pages + 63) / 64)), backup_(std::move(backup)) {}

void WriteGuard::guard(uint64_t first, uint64_t count) { set(first, count, true); }

void WriteGuard::unguard(uint64_t first, uint64_t count) { set(first, count, false); }

// Whole words at a time where the range covers them: protecting all RAM is one pass.
void WriteGuard::set(uint64_t first, uint64_t count, bool on) {
  uint64_t end = std::min(pages_, first + count);
  uint64_t p = first;
  while (p < end) {
    uint64_t word = p / 64, lo = p % 64, hi = std::min<uint64_t>(64, lo + (end - p));
    uint64_t mask = hi - lo == 64 ? ~0ull : ((1ull << (hi - lo)) - 1) << lo;
    if (on)
      bits_[word].fetch_or(mask, std::memory_order_acq_rel);
    else
      bits_[word].fetch_and(~mask, std::memory_order_acq_rel);
    p += hi - lo;
  }
}

}  // namespace hsls
