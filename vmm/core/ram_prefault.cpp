#include "vmm/core/ram_prefault.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "vmm/core/log.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14
#endif

namespace hsls {

RamPrefault::RamPrefault(uint8_t* base, uint64_t size) : thread_([this, base, size] { run(base, size); }) {}

RamPrefault::~RamPrefault() {
  stop_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

void RamPrefault::run(uint8_t* base, uint64_t size) {
  pthread_setname_np(pthread_self(), "ram-prefault");
  sched_param idle{};
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);  // only when nothing else wants the CPU
  constexpr uint64_t kChunk = 2 << 20;
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t off = 0; off < size && !stop_.load(std::memory_order_relaxed); off += kChunk) {
    uint64_t len = std::min(kChunk, size - off);
    if (::madvise(base + off, len, MADV_POPULATE_READ) != 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      // An old kernel (EINVAL), or a range that went away (power failure): the guest faults its pages itself.
      log::get("vmm")->debug("RAM prefault stopped at {} MiB: {}", off >> 20, std::strerror(errno));
      break;
    }
    done_.fetch_add(len, std::memory_order_relaxed);
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  log::get("vmm")->debug("RAM prefaulted: {} of {} MiB in {:.0f} ms", done_.load() >> 20, size >> 20, ms);
  finished_.store(true, std::memory_order_release);
}

}  // namespace hsls
