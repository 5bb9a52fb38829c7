#include "vmm/accel/tcg/store_dirty_log.h"

namespace hsls::accel::tcg {

StoreDirtyLog::StoreDirtyLog(const std::vector<RamRange>& ranges) : ranges_(ranges) {
  uint64_t pages = 0;
  for (const auto& r : ranges_) pages += r.size / kPageSize;
  bits_ = std::make_unique<std::atomic<uint64_t>[]>((pages + 63) / 64);
  list_.reserve(4096);
}

// Ranges are few: a linear search.
int64_t StoreDirtyLog::page_of(uint64_t gpa) const {
  for (const auto& r : ranges_)
    if (gpa >= r.gpa && gpa < r.gpa + r.size) return int64_t((r.host_offset + (gpa - r.gpa)) / kPageSize);
  return -1;
}

void StoreDirtyLog::mark_page(uint64_t gpa) {
  int64_t p = page_of(gpa);
  if (p < 0) return;
  uint64_t page = uint64_t(p);
  uint64_t bit = 1ull << (page % 64);
  auto& word = bits_[page / 64];
  if (word.load(std::memory_order_relaxed) & bit) return;
  if (!(word.fetch_or(bit, std::memory_order_acq_rel) & bit)) {
    std::lock_guard lock(mu_);
    list_.push_back(page);
  }
}

bool StoreDirtyLog::marked(uint64_t gpa) const {
  int64_t p = page_of(gpa);
  return p >= 0 && (bits_[uint64_t(p) / 64].load(std::memory_order_acquire) & (1ull << (uint64_t(p) % 64)));
}

void StoreDirtyLog::collect(std::vector<uint64_t>& out) {
  {
    std::lock_guard lock(mu_);
    for (uint64_t page : list_) {
      bits_[page / 64].fetch_and(~(1ull << (page % 64)), std::memory_order_seq_cst);
      out.push_back(page);
    }
    list_.clear();
  }
  // A store hooked but not yet landed belongs to the next harvest too (its
  // hook wrote last_gpa_ before marking, so either this read sees it, or
  // its mark comes after the bits above were cleared).
  uint64_t last = last_gpa_.load(std::memory_order_seq_cst);
  if (last != ~0ull) {
    mark_page(last);
    mark_page(last + 15);  // the widest store (16 bytes) may cross into the next page
  }
}

}  // namespace hsls::accel::tcg
