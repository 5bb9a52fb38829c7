// Guest-physical memory: the RAM the guest sees, backed by one host mapping
// (the NVM region). RAM is split around the 32-bit device hole: the first
// 3 GiB at guest-physical 0, the rest at 4 GiB. Every access from the VMM
// goes through here and is bounds-checked; writes ask the write guard
// first, when the checkpointer keeps one (write_guard.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace hsls {

class WriteGuard;

// Where RAM ends below 4 GiB; the space above up to 4 GiB holds devices.
inline constexpr uint64_t kLowRamLimit = 3ull << 30;
inline constexpr uint64_t kHighRamBase = 4ull << 30;
inline constexpr uint64_t kPageSize = 4096;

// One contiguous piece of guest RAM (one KVM memory slot).
struct RamRange {
  uint64_t gpa;          // guest-physical start
  uint64_t size;         // bytes
  uint64_t host_offset;  // offset in the backing mapping
};

class GuestMemory {
 public:
  // Lays out `size` bytes of RAM backed by `host` (which must hold `size` bytes).
  GuestMemory(uint8_t* host, uint64_t size);

  // The RAM ranges, lowest first.
  const std::vector<RamRange>& ranges() const { return ranges_; }
  uint64_t size() const { return size_; }
  uint8_t* host_base() const { return host_; }

  // Host pointer for [gpa, gpa+len) if it lies inside one RAM range, else null.
  uint8_t* host(uint64_t gpa, uint64_t len) const;

  // Copies out / in; false if any byte is outside RAM.
  bool read(uint64_t gpa, void* out, uint64_t len) const;
  bool write(uint64_t gpa, const void* in, uint64_t len);

  // Copy-on-write in the VMM's write paths (null: none). Set before any
  // write it must see, cleared after the last.
  void set_write_guard(WriteGuard* guard) { guard_ = guard; }
  // Before a write to [gpa, gpa+len) that does not go through write():
  // lets the guard back up the pages it covers. False: do not write.
  bool before_write(uint64_t gpa, uint64_t len);
  // Whether the guard still has the page at `gpa` to back up before a write.
  bool guarded(uint64_t gpa) const;

  // True if [gpa, gpa+len) is entirely RAM (possibly spanning no hole).
  bool contains(uint64_t gpa, uint64_t len) const { return host(gpa, len) != nullptr; }

 private:
  uint8_t* host_;
  uint64_t size_;
  WriteGuard* guard_ = nullptr;
  std::vector<RamRange> ranges_;
};

// Splits `size` bytes of RAM into guest-physical ranges (pure; for tests too).
std::vector<RamRange> layout_ram(uint64_t size);

}  // namespace hsls
