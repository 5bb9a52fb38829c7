#include "vmm/accel/tcg/store_dirty_log.h"

namespace hsls::accel::tcg {

StoreDirtyLog::StoreDirtyLog(const std::vector<RamRange>& ranges) : ranges_(ranges) {
  uint64_t pages = 0;
  for (const auto& r : ranges_) pages += r.size / kPageSize;
  bits_.assign((pages + 63) / 64, 0);
  list_.reserve(4096);
}

// The RAM page index of a guest-physical address (ranges are few: a linear search).
void StoreDirtyLog::mark_page(uint64_t gpa) {
  for (const auto& r : ranges_) {
    if (gpa < r.gpa || gpa >= r.gpa + r.size) continue;
    uint64_t page = (r.host_offset + (gpa - r.gpa)) / kPageSize;
    uint64_t& word = bits_[page / 64];
    uint64_t bit = 1ull << (page % 64);
    if (!(word & bit)) {
      word |= bit;
      list_.push_back(page);
    }
    return;
  }
}

void StoreDirtyLog::collect(std::vector<uint64_t>& out) {
  for (uint64_t page : list_) {
    bits_[page / 64] &= ~(1ull << (page % 64));
    out.push_back(page);
  }
  list_.clear();
}

}  // namespace hsls::accel::tcg
