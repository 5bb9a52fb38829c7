// A vector for large per-page tables: its memory comes zeroed, as fresh
// pages from the kernel for large sizes, and value-initialisation writes
// nothing, so a table costs no page faults until part of it is used.
// Start-up, and so recovery time, does not pay for touching megabytes (a
// first touch costs ~10-20 us on a PVM guest).
#pragma once
#include <sys/mman.h>

#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace hsls::ckpt {

template <typename T>
struct ZeroedAllocator {
  static_assert(std::is_trivial_v<T>, "zero bytes must be a valid T");
  using value_type = T;
  ZeroedAllocator() = default;
  template <typename U>
  ZeroedAllocator(const ZeroedAllocator<U>&) {}

  // Large tables are mapped directly: calloc may hand out reused heap memory
  // and clear it by hand (once malloc's mmap threshold has grown, which
  // freeing a large block, e.g. a Unicorn engine's, does), touching every page.
  static constexpr size_t kMapFrom = 64 * 1024;

  T* allocate(size_t n) {
    const size_t bytes = (n ? n : 1) * sizeof(T);
    if (bytes >= kMapFrom) {
      void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      return static_cast<T*>(p);
    }
    void* p = std::calloc(n ? n : 1, sizeof(T));
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    const size_t bytes = (n ? n : 1) * sizeof(T);
    if (bytes >= kMapFrom) {
      ::munmap(p, bytes);
    } else {
      std::free(p);
    }
  }
  // Value-initialisation: calloc's zeroes are the value.
  template <typename U>
  void construct(U*) noexcept {}
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const ZeroedAllocator<U>&) const { return true; }
};

// Construct with the size only (`ZeroedVector<T> v(n)`): every element is 0.
// For tables of a fixed size: growing one again after shrinking it would not
// zero the reused elements.
template <typename T>
using ZeroedVector = std::vector<T, ZeroedAllocator<T>>;

}  // namespace hsls::ckpt
