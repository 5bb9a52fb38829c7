// The host's monotonic clock in nanoseconds (one definition for every layer).
#pragma once
#include <time.h>

#include <cstdint>

namespace hsls {

inline uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

}  // namespace hsls
