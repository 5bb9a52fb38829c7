// How devices touch guest memory. Reads come straight from the mapping
// (they never fault). Writes go through process_vm_writev on our own
// process, so that a write to a page the checkpointer has write-protected
// waits for its copy-on-write like a vCPU's would, and a write after a power
// failure (RAM made read-only) fails with EFAULT instead of killing the VMM;
// where the checkpointer guards pages in the VMM instead (write_guard.h),
// the write asks the guard first.
// Every page a device writes is recorded: KVM's dirty log does not see the
// VMM's own stores, and the checkpointer must.
#pragma once
#include <cstdint>
#include <mutex>
#include <vector>

#include "vmm/core/guest_memory.h"

namespace hsls {

// The RAM pages (index into the RAM mapping) devices wrote since the last collect().
class DeviceDirtyLog {
 public:
  void mark(uint64_t first_page, uint64_t last_page);
  // Appends the recorded pages to `out` and forgets them.
  void collect(std::vector<uint64_t>& out);

 private:
  std::mutex mu_;
  std::vector<uint64_t> pages_;
};

class Dma {
 public:
  Dma(GuestMemory& mem, DeviceDirtyLog& dirty) : mem_(mem), dirty_(dirty) {}

  // True if [gpa, gpa+len) is guest RAM.
  bool contains(uint64_t gpa, uint64_t len) const { return len == 0 ? mem_.contains(gpa, 1) : mem_.contains(gpa, len); }
  // Copies guest memory out; false if any byte is outside RAM.
  bool read(uint64_t gpa, void* out, uint64_t len) const;
  // A 16-bit field the guest may be updating concurrently (ring indices).
  bool load16(uint64_t gpa, uint16_t& out) const;
  // Copies into guest memory and records the pages; false if outside RAM
  // or the write failed (power gone).
  bool write(uint64_t gpa, const void* in, uint64_t len);

 private:
  GuestMemory& mem_;
  DeviceDirtyLog& dirty_;
};

}  // namespace hsls
