// Maps guest RAM's pages into the VMM in the background. The guest's first
// touch of a page of the NVM file otherwise takes a host page fault, 11-30
// us on a PVM host (tmpfs, no huge pages: one fault per 4 KiB), where QEMU's
// anonymous RAM gets 2 MiB pages; prefaulted, the first touch costs 4-7 us
// (utest's page-fault case: 22-31 -> 13-15 us). Read-populate only: no byte
// changes and userfaultfd write protection is never tripped.
#pragma once
#include <atomic>
#include <cstdint>
#include <thread>

namespace hsls {

class RamPrefault {
 public:
  // Starts populating [base, base+size) at idle priority, 2 MiB at a time.
  RamPrefault(uint8_t* base, uint64_t size);
  // Stops (within one chunk) and joins: before the mapping goes.
  ~RamPrefault();
  RamPrefault(const RamPrefault&) = delete;
  RamPrefault& operator=(const RamPrefault&) = delete;

  // Bytes populated so far (for tests and the log).
  uint64_t done() const { return done_.load(std::memory_order_relaxed); }
  // Whether the thread has finished (all populated, stopped, or refused by the kernel).
  bool finished() const { return finished_.load(std::memory_order_acquire); }

 private:
  void run(uint8_t* base, uint64_t size);

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> done_{0};
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

}  // namespace hsls
