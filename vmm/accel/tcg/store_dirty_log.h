// The software CPU's dirty log, kept in the store path: every guest store
// the engine makes to RAM reports its guest-physical address (Unicorn's
// write hook runs before the store lands); the first store to a page in an
// epoch appends the page to a list, so a harvest costs the pages written,
// never a scan of RAM. All stores come from the engine, which one vCPU
// uses at a time (the run token), and collect() runs with every vCPU
// parked, so no lock is needed.
#pragma once
#include <cstdint>
#include <vector>

#include "vmm/accel/dirty_log.h"
#include "vmm/core/guest_memory.h"

namespace hsls::accel::tcg {

class StoreDirtyLog {
 public:
  explicit StoreDirtyLog(const std::vector<RamRange>& ranges);
  // A store of `size` bytes at guest-physical `gpa` (page-crossing stores report both pages).
  void mark(uint64_t gpa, unsigned size) {
    mark_page(gpa);
    if (((gpa & 0xfff) + size) > 0x1000) mark_page(gpa + size - 1);
  }
  // Appends the pages marked since the last call, and forgets them.
  void collect(std::vector<uint64_t>& out);
  size_t pending() const { return list_.size(); }

 private:
  void mark_page(uint64_t gpa);

  std::vector<RamRange> ranges_;
  std::vector<uint64_t> bits_;   // per RAM page (0-based across ranges): marked this epoch
  std::vector<uint64_t> list_;   // the marked pages, in order of first store
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
