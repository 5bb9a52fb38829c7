// Copy-on-write through userfaultfd write-protection of guest RAM: the
// first write to a protected page (by a vCPU through KVM, or by the VMM)
// blocks until the checkpointer has backed the page up and unprotected it.
#pragma once
#include <cstdint>
#include <optional>

#include "vmm/core/fd.h"

namespace hsls::ckpt {

// Reserves a low file descriptor for the userfaultfd; call at the very start
// of the process. When a process dies its descriptors close in number order,
// and KVM's async page-fault workers may be blocked on a write-protected
// page: unless the userfaultfd closes (waking them) before the VM, tearing
// the VM down waits for them forever.
void reserve_low_fd();

class WriteProtect {
 public:
  // Registers [base, base+size) for write-protect faults. Throws Error if
  // this kernel cannot write-protect shared memory with userfaultfd.
  WriteProtect(uint8_t* base, uint64_t size);
  ~WriteProtect();
  WriteProtect(const WriteProtect&) = delete;
  WriteProtect& operator=(const WriteProtect&) = delete;

  // Write-protects / unprotects `count` pages from page `first`.
  // Unprotecting also wakes threads blocked on those pages.
  void protect(uint64_t first, uint64_t count);
  void unprotect(uint64_t first, uint64_t count);
  // Wakes threads blocked on a page that is already writable.
  void wake(uint64_t page);
  void wake_all();

  // Waits up to `timeout_ms` (-1: forever) for the next write fault; returns
  // its page, kTimedOut, or nullopt once `stop_fd` becomes readable.
  static constexpr uint64_t kTimedOut = ~0ull;
  std::optional<uint64_t> next_fault(int stop_fd, int timeout_ms = -1);

 private:
  void writeprotect(uint64_t first, uint64_t count, bool on);
  int fd() const { return fd_.get(); }
  Fd fd_;
  uint8_t* base_;
  uint64_t size_;
};

}  // namespace hsls::ckpt
