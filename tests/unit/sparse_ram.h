// Guest RAM for tests: a zero-filled anonymous mapping reserved without
// backing (MAP_NORESERVE), so a test can lay out more than 3 GiB of guest
// memory and touch only a few pages of it.
#pragma once
#include <sys/mman.h>

#include <cstdint>

#include "vmm/core/guest_memory.h"

namespace hsls::test {

class SparseRam {
 public:
  explicit SparseRam(uint64_t size) : size_(size) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
  }
  ~SparseRam() {
    if (base_) ::munmap(base_, size_);
  }
  SparseRam(const SparseRam&) = delete;
  SparseRam& operator=(const SparseRam&) = delete;

  bool ok() const { return base_ != nullptr; }
  uint8_t* data() const { return base_; }
  uint64_t size() const { return size_; }

 private:
  uint8_t* base_ = nullptr;
  uint64_t size_;
};

}  // namespace hsls::test
