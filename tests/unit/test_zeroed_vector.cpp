// ZeroedVector: every element starts at zero, whether its memory is mapped
// fresh (large tables) or comes from the heap, even heap memory that held
// other data before.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "ckpt/zeroed_vector.h"

using hsls::ckpt::ZeroedVector;

namespace {
// Leaves `bytes` of dirty memory free in the heap for the next allocation to reuse.
void dirty_the_heap(size_t bytes) {
  void* p = std::malloc(bytes);
  REQUIRE(p);
  std::memset(p, 0xa5, bytes);
  std::free(p);
}
}  // namespace

TEST_CASE("ZeroedVector: large and small tables start zero and can be written") {
  for (size_t n : {size_t(1), size_t(100), size_t(8191), size_t(8192), size_t(1) << 20}) {
    CAPTURE(n);
    dirty_the_heap(n * sizeof(uint64_t));
    ZeroedVector<uint64_t> v(n);
    REQUIRE(v.size() == n);
    CHECK(std::all_of(v.begin(), v.end(), [](uint64_t x) { return x == 0; }));
    v.back() = 9;
    CHECK(v.back() == 9);
  }
}

TEST_CASE("ZeroedVector: a table that grows keeps its elements and zeroes the new ones") {
  ZeroedVector<uint32_t> v(10);
  v[3] = 42;
  dirty_the_heap(1 << 20);
  v.resize(1 << 18);  // past the size that is mapped directly
  CHECK(v[3] == 42);
  CHECK(std::all_of(v.begin() + 10, v.end(), [](uint32_t x) { return x == 0; }));
}
