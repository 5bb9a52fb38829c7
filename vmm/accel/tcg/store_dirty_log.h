// The software CPU's dirty log, kept in the store path. The first store to
// a page in an epoch appends the page to a list, so a harvest costs the
// pages written, never a scan of RAM. Two feeders (ckpt.dirty_log):
// - `tlb` (what `auto` means): the VMM fills the engine's TLB (tlb_fill.h) and
//   enters a page writable only once it is marked here, so the first store
//   to a clean page misses and marks it; stores then run at full speed. A
//   harvest must revoke those write rights: TcgVm::collect_dirty takes the
//   engine, harvests and has the TLB flushed before the next guest code.
// - `store`: Unicorn's write hook reports every store (~5x slower stores),
//   with the rules below for a harvest while the engine runs.
// In the store mode: Stores come from the engine (one vCPU at a time);
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
#include <functional>
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
  // A write that has landed (the VMM's own, or a store the TLB fill lets through).
  void mark_landed(uint64_t gpa) { mark_page(gpa); }
  // Whether the page of `gpa` is marked in this epoch.
  bool marked(uint64_t gpa) const;
  // Appends the pages marked since the last call, and forgets them.
  void collect(std::vector<uint64_t>& out);
  size_t pending() {
    std::lock_guard lock(mu_);
    return list_.size();
  }

 private:
  void mark_page(uint64_t gpa);
  // The RAM page index (0-based across ranges) of `gpa`, or -1 outside RAM.
  int64_t page_of(uint64_t gpa) const;

  std::vector<RamRange> ranges_;
  std::unique_ptr<std::atomic<uint64_t>[]> bits_;  // per RAM page (0-based across ranges): marked this epoch
  std::mutex mu_;
  std::vector<uint64_t> list_;  // the marked pages, in order of first store (under mu_)
  std::atomic<uint64_t> last_gpa_{~0ull};  // the address of the last hooked store
};

// The DirtyLog the checkpointer holds: a harvest through the VM (which
// knows the feeder: a TLB-fed log needs the engine taken and its TLB flushed).
class StoreDirtyLogView : public DirtyLog {
 public:
  // `collect(out, running)`: the harvest; false if it declined (running only).
  StoreDirtyLogView(const char* name, std::function<bool(std::vector<uint64_t>&, bool)> collect)
      : name_(name), collect_(std::move(collect)) {}
  const char* name() const override { return name_; }
  void collect(std::vector<uint64_t>& out) override { collect_(out, false); }
  bool collect_while_running(std::vector<uint64_t>& out) override { return collect_(out, true); }

 private:
  const char* name_;
  std::function<bool(std::vector<uint64_t>&, bool)> collect_;
};

}  // namespace hsls::accel::tcg
