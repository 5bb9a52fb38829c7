#include "vmm/devices/dma.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cstring>

namespace hsls {

void DeviceDirtyLog::mark(uint64_t first_page, uint64_t last_page) {
  std::lock_guard lock(mu_);
  for (uint64_t p = first_page; p <= last_page; ++p) pages_.push_back(p);
}

void DeviceDirtyLog::collect(std::vector<uint64_t>& out) {
  std::lock_guard lock(mu_);
  out.insert(out.end(), pages_.begin(), pages_.end());
  pages_.clear();
}

bool Dma::read(uint64_t gpa, void* out, uint64_t len) const {
  if (len == 0) return true;
  const uint8_t* src = mem_.host(gpa, len);
  if (!src) return false;
  std::memcpy(out, src, len);
  return true;
}

bool Dma::load16(uint64_t gpa, uint16_t& out) const {
  if (gpa % 2) return false;
  const uint8_t* src = mem_.host(gpa, 2);
  if (!src) return false;
  out = __atomic_load_n(reinterpret_cast<const uint16_t*>(src), __ATOMIC_ACQUIRE);
  return true;
}

bool Dma::write(uint64_t gpa, const void* in, uint64_t len) {
  if (len == 0) return true;
  uint8_t* dst = mem_.host(gpa, len);
  if (!dst || !mem_.before_write(gpa, len)) return false;
  uint64_t off = uint64_t(dst - mem_.host_base());
  dirty_.mark(off / kPageSize, (off + len - 1) / kPageSize);
  iovec local{const_cast<void*>(in), len};
  iovec remote{dst, len};
  ssize_t n = ::process_vm_writev(::getpid(), &local, 1, &remote, 1, 0);
  return n == ssize_t(len);
}

}  // namespace hsls
