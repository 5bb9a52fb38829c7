// Copy-on-write without kernel faults, for accelerators whose stores all ask
// the VMM first (accel::Vm::stores_ask_write_guard: the software CPU with
// its TLB-fill log): protected pages are guarded in guest memory's write
// guard, and the first writer of one backs it up on its own thread,
// through the checkpointer. Nothing is left for the fault thread to serve.
#pragma once
#include <memory>

#include "ckpt/page_protection.h"
#include "vmm/core/guest_memory.h"
#include "vmm/core/write_guard.h"

namespace hsls::ckpt {

class GuardProtection : public PageProtection {
 public:
  // Installs the guard in `mem` (until destroyed); `backup` backs a page up
  // and unprotects it (false: the write must not land).
  GuardProtection(GuestMemory& mem, uint64_t pages, WriteGuard::Backup backup);
  ~GuardProtection() override;
  GuardProtection(const GuardProtection&) = delete;
  GuardProtection& operator=(const GuardProtection&) = delete;

  const char* name() const override { return "write-guard"; }
  void protect(uint64_t first, uint64_t count) override { guard_.guard(first, count); }
  void unprotect(uint64_t first, uint64_t count) override { guard_.unguard(first, count); }
  // Writers never block here: this only waits for `stop_fd` or the timeout.
  std::optional<uint64_t> next_fault(int stop_fd, int64_t timeout_ns) override;

 private:
  GuestMemory& mem_;
  WriteGuard guard_;
};

}  // namespace hsls::ckpt
