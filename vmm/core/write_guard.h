// Copy-on-write in the VMM's own write paths, without a kernel fault. Where
// every write to guest RAM passes through the VMM (the software CPU's
// stores ask at their TLB fill, the VMM's own writes through GuestMemory
// and Dma), the checkpointer guards the pages it has not backed up here
// instead of write-protecting them with userfaultfd: a writer asks
// before_write() first, and a guarded page is backed up on the writer's
// own thread before the write lands.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

namespace hsls {

class WriteGuard {
 public:
  // Backs `page` up and unguards it; false if the write must not land
  // (the power failed meanwhile).
  using Backup = std::function<bool(uint64_t page)>;

  // `pages`: RAM pages (index into the RAM mapping, 0-based across ranges).
  WriteGuard(uint64_t pages, Backup backup);

  void guard(uint64_t first, uint64_t count);
  void unguard(uint64_t first, uint64_t count);
  bool guarded(uint64_t page) const {
    return page < pages_ && (bits_[page / 64].load(std::memory_order_acquire) >> (page % 64)) & 1;
  }
  // Before a write to `page`: backs a guarded page up first. False: do not write.
  bool before_write(uint64_t page) { return !guarded(page) || backup_(page); }

 private:
  void set(uint64_t first, uint64_t count, bool on);
  uint64_t pages_;
  std::unique_ptr<std::atomic<uint64_t>[]> bits_;
  Backup backup_;
};

}  // namespace hsls
