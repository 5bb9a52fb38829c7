// Copy-on-write through userfaultfd write-protection of guest RAM: the
// first write to a protected page (by a vCPU through KVM, or by the VMM)
// blocks until the checkpointer has backed the page up and unprotected it.
#pragma once
#include <cstdint>
#include <optional>

#include "ckpt/page_protection.h"
#include "vmm/core/fd.h"

namespace hsls::ckpt {

// Reserves a low file descriptor for the userfaultfd; call at the very start
// of the process. When a process dies its descriptors close in number order,
// and KVM's async page-fault workers may be blocked on a write-protected
// page: unless the userfaultfd closes (waking them) before the VM, tearing
// the VM down waits for them forever.
void reserve_low_fd();

class WriteProtect : public PageProtection {
 public:
  // Registers [base, base+size) for write-protect faults. Throws Error if
  // this kernel cannot write-protect shared memory with userfaultfd.
  WriteProtect(uint8_t* base, uint64_t size);
  ~WriteProtect() override;
  WriteProtect(const WriteProtect&) = delete;
  WriteProtect& operator=(const WriteProtect&) = delete;

  const char* name() const override { return "userfaultfd"; }
  void protect(uint64_t first, uint64_t count) override;
  void unprotect(uint64_t first, uint64_t count) override;
  void wake(uint64_t page) override;
  void wake_all() override;
  std::optional<uint64_t> next_fault(int stop_fd, int64_t timeout_ns = -1) override;

 private:
  void writeprotect(uint64_t first, uint64_t count, bool on);
  int fd() const { return fd_.get(); }
  Fd fd_;
  uint8_t* base_;
  uint64_t size_;
};

}  // namespace hsls::ckpt
