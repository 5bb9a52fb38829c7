// The software CPU's dirty log, kept in the store path: every guest store
// the engine makes to RAM reports its guest-physical address (Unicorn's
// write hook runs before the store lands); the first store to a page in an
// epoch appends the page to a list, so a harvest costs the pages written,
// never a scan of RAM. Stores come from the engine (one vCPU at a time);
// collect() may run while it runs (precopy harvests mid-epoch), so the
// per-page bits are atomic and the list takes a lock, on a page's first
// store in an epoch only. A page whose bit was already set when collect()
// cleared it was in the list collect() took. The hook runs before its store
// lands, so a harvest between the two would report the page, let precopy
// copy it, and miss the store: the page of the last hooked store (the only
// one that can be in flight: one engine runs at a time) is marked again
// after each harvest.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "vmm/accel/dirty_log.h"
#include "vmm/core/guest_memory.h"

namespace hsls::accel::tcg {

class StoreDirtyLog {
 public:
  explicit StoreDirtyLog(const std::vector<RamRange>& ranges);
  // A store of `size` bytes at guest-physical `gpa` (page-crossing stores report both pages).
  void mark(uint64_t gpa, unsigned size) {
    last_gpa_.store(gpa, std::memory_order_seq_cst);  // before the bit: see collect()
    mark_page(gpa);
    if (((gpa & 0xfff) + size) > 0x1000) mark_page(gpa + size - 1);
  }
  // Appends the pages marked since the last call, and forgets them.
  void collect(std::vector<uint64_t>& out);
  size_t pending() {
    std::lock_guard lock(mu_);
    return list_.size();
  }

 private:
  void mark_page(uint64_t gpa);

  std::vector<RamRange> ranges_;
  std::unique_ptr<std::atomic<uint64_t>[]> bits_;  // per RAM page (0-based across ranges): marked this epoch
  std::mutex mu_;
  std::vector<uint64_t> list_;  // the marked pages, in order of first store (under mu_)
  std::atomic<uint64_t> last_gpa_{~0ull};  // the address of the last hooked store
};

// The DirtyLog the checkpointer holds: a view of the VM's store log.
class StoreDirtyLogView : public DirtyLog {
 public:
  explicit StoreDirtyLogView(StoreDirtyLog& log) : log_(log) {}
  const char* name() const override { return "tcg-store"; }
  void collect(std::vector<uint64_t>& out) override { log_.collect(out); }

 private:
  StoreDirtyLog& log_;
};

}  // namespace hsls::accel::tcg
