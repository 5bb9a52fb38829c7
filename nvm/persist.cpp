#include "nvm/persist.h"

#include <libpmem.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include <cstring>
#include <new>

namespace hsls::nvm {
namespace {

constexpr const char* kNames[] = {"stopped",       "state-saved", "backup-copied", "backup-tagged", "protected",
                                  "journal-written", "committed", "cow-copied",    "cow-tagged",    "restored"};
static_assert(std::size(kNames) == unsigned(CrashPoint::kCount));

}  // namespace

const char* crash_point_name(CrashPoint p) { return kNames[unsigned(p)]; }

std::optional<CrashPoint> crash_point_from_name(std::string_view name) {
  for (unsigned i = 0; i < unsigned(CrashPoint::kCount); ++i)
    if (name == kNames[i]) return CrashPoint(i);
  return std::nullopt;
}

std::string crash_point_names() {
  std::string out;
  for (const char* n : kNames) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

Persist::Persist(bool adr) : adr_(adr) {
  void* p = ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  shared_ = new (p) Shared();
}

Persist::~Persist() {
  shared_->~Shared();
  ::munmap(shared_, sizeof(Shared));
}

void Persist::copy(void* dst, const void* src, size_t len, bool counted) {
  if (unfenced_) {
    std::lock_guard lock(unfenced_mu_);
    if (power_lost()) return;
    unfenced_->before_store(dst, len, true);
    pmem_memcpy_nodrain(dst, src, len);
  } else {
    if (power_lost()) return;
    pmem_memcpy_nodrain(dst, src, len);
  }
  if (counted) count_bytes(len);
}

void Persist::copy_in_file(void* dst, const void* src, size_t len) {
  auto offset_of = [this, len](const void* at, loff_t& off) {
    auto* b = static_cast<const uint8_t*>(at);
    if (b < file_base_ || uint64_t(b - file_base_) + len > file_size_) return false;
    off = loff_t(b - file_base_);
    return true;
  };
  loff_t from = 0, to = 0;
  if (file_fd_ < 0 || unfenced_ || !offset_of(src, from) || !offset_of(dst, to)) return copy(dst, src, len);
  if (power_lost()) return;
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::copy_file_range(file_fd_, &from, file_fd_, &to, len - done, 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      // Refused (an old kernel, a file system without it): the rest through the mapping.
      copy(static_cast<uint8_t*>(dst) + done, static_cast<const uint8_t*>(src) + done, len - done, false);
      break;
    }
    done += size_t(n);
  }
  count_bytes(len);
}

void Persist::read(void* dst, const void* src, size_t len) const {
  auto* from = static_cast<const uint8_t*>(src);
  bool in_file = file_fd_ >= 0 && !unfenced_ && from >= file_base_ && uint64_t(from - file_base_) + len <= file_size_;
  size_t done = 0;
  while (in_file && done < len) {
    ssize_t n = ::pread(file_fd_, static_cast<uint8_t*>(dst) + done, len - done, off_t(from - file_base_) + off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // refused or short (cannot be for a mapped file): the rest from the mapping
    done += size_t(n);
  }
  std::memcpy(static_cast<uint8_t*>(dst) + done, from + done, len - done);
}

void Persist::write(void* dst, const void* src, size_t len) {
  if (unfenced_) {
    std::lock_guard lock(unfenced_mu_);
    if (power_lost()) return;
    unfenced_->before_store(dst, len, false);
    std::memcpy(dst, src, len);
  } else {
    if (power_lost()) return;
    std::memcpy(dst, src, len);
  }
  count_bytes(len);
}

bool Persist::store64(uint64_t* dst, uint64_t value) {
  if (unfenced_) {
    std::lock_guard lock(unfenced_mu_);
    if (power_lost()) return false;
    unfenced_->before_store(dst, 8, false);
    __atomic_store_n(dst, value, __ATOMIC_RELEASE);
  } else {
    if (power_lost()) return false;
    __atomic_store_n(dst, value, __ATOMIC_RELEASE);
  }
  count_bytes(8);
  return true;
}

void Persist::flush(const void* addr, size_t len) {
  if (!adr_ || power_lost()) return;
  if (unfenced_) {
    std::lock_guard lock(unfenced_mu_);
    pmem_flush(addr, len);
    unfenced_->flushed(addr, len);
    return;
  }
  pmem_flush(addr, len);
}

void Persist::fence() {
  if (unfenced_) {
    std::lock_guard lock(unfenced_mu_);  // no store slips in between the fence and its record
    if (power_lost()) return;
    pmem_drain();
    unfenced_->fenced();
    return;
  }
  if (!power_lost()) pmem_drain();
}

void Persist::lose_power() {
  shared_->power_lost.store(true);
  if (!unfenced_) return;
  std::lock_guard lock(unfenced_mu_);  // no write is half done: each checks the power under this lock
  dropped_ += unfenced_->drop();
}

void Persist::track_unfenced(uint64_t seed, UnfencedLines::Policy policy) {
  unfenced_ = std::make_unique<UnfencedLines>(seed, policy);
}

void Persist::point(CrashPoint p) {
  uint64_t n = counts_[unsigned(p)].fetch_add(1, std::memory_order_relaxed) + 1;
  if (armed_point_.load(std::memory_order_relaxed) != int(p)) return;
  std::function<void(CrashPoint)> fire;
  {
    std::lock_guard lock(arm_mu_);
    if (armed_point_.load() != int(p) || n < armed_at_) return;
    armed_point_ = -1;
    fire = std::move(on_fail_);
  }
  lose_power();
  if (fire) fire(p);
}

void Persist::arm(CrashPoint p, uint64_t nth, std::function<void(CrashPoint)> on_fail) {
  std::lock_guard lock(arm_mu_);
  armed_at_ = count(p) + (nth == 0 ? 1 : nth);
  on_fail_ = std::move(on_fail);
  armed_point_ = int(p);
}

void Persist::disarm() {
  std::lock_guard lock(arm_mu_);
  armed_point_ = -1;
  on_fail_ = nullptr;
}

}  // namespace hsls::nvm
