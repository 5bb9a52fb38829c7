#include "vmm/core/guest_memory.h"

#include <algorithm>
#include <cstring>

#include "vmm/core/write_guard.h"

namespace hsls {

std::vector<RamRange> layout_ram(uint64_t size) {
  std::vector<RamRange> out;
  uint64_t low = std::min(size, kLowRamLimit);
  out.push_back({0, low, 0});
  if (size > low) out.push_back({kHighRamBase, size - low, low});
  return out;
}

GuestMemory::GuestMemory(uint8_t* host, uint64_t size) : host_(host), size_(size), ranges_(layout_ram(size)) {}

uint8_t* GuestMemory::host(uint64_t gpa, uint64_t len) const {
  for (const auto& r : ranges_) {
    if (gpa >= r.gpa && gpa - r.gpa <= r.size && len <= r.size - (gpa - r.gpa))
      return host_ + r.host_offset + (gpa - r.gpa);
  }
  return nullptr;
}

bool GuestMemory::read(uint64_t gpa, void* out, uint64_t len) const {
  const uint8_t* src = host(gpa, len);
  if (!src) return false;
  std::memcpy(out, src, len);
  return true;
}

bool GuestMemory::write(uint64_t gpa, const void* in, uint64_t len) {
  uint8_t* dst = host(gpa, len);
  if (!dst || !before_write(gpa, len)) return false;
  std::memcpy(dst, in, len);
  return true;
}

bool GuestMemory::guarded(uint64_t gpa) const {
  if (!guard_) return false;
  const uint8_t* at = host(gpa, 1);
  return at && guard_->guarded(uint64_t(at - host_) / kPageSize);
}

bool GuestMemory::before_write(uint64_t gpa, uint64_t len) {
  if (!guard_ || len == 0) return true;
  uint8_t* dst = host(gpa, len);
  if (!dst) return true;  // not RAM: nothing to guard
  uint64_t off = uint64_t(dst - host_);
  for (uint64_t page = off / kPageSize; page <= (off + len - 1) / kPageSize; ++page)
    if (!guard_->before_write(page)) return false;
  return true;
}

}  // namespace hsls
