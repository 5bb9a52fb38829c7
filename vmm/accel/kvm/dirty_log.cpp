#include "vmm/accel/kvm/dirty_log.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "vmm/core/error.h"

namespace hsls::accel::kvm {

bool enable_manual_dirty_log(int vm_fd, int cap_value) {
  if (cap_value <= 0) return false;
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
  cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;  // not INITIALLY_SET: start clean
  return ::ioctl(vm_fd, KVM_ENABLE_CAP, &cap) == 0;
}

DirtyBitmap::DirtyBitmap(int vm_fd, const std::vector<RamRange>& ranges) : vm_fd_(vm_fd), ranges_(ranges) {
  for (const auto& r : ranges_) bitmaps_.emplace_back((r.size / kPageSize + 63) / 64, 0);
  untracked_ = bitmaps_;
}

void DirtyBitmap::set_untracked(uint64_t page, bool untracked) {
  for (size_t slot = 0; slot < ranges_.size(); ++slot) {
    uint64_t first = ranges_[slot].host_offset / kPageSize, n = ranges_[slot].size / kPageSize;
    if (page < first || page >= first + n) continue;
    uint64_t i = page - first, bit = 1ull << (i % 64);
    if (untracked)
      untracked_[slot][i / 64] |= bit;
    else
      untracked_[slot][i / 64] &= ~bit;
    return;
  }
}

void DirtyBitmap::collect(std::vector<uint64_t>& out) {
  for (size_t slot = 0; slot < ranges_.size(); ++slot) {
    auto& bm = bitmaps_[slot];
    kvm_dirty_log log{};
    log.slot = uint32_t(slot);
    log.dirty_bitmap = bm.data();
    if (::ioctl(vm_fd_, KVM_GET_DIRTY_LOG, &log) < 0) throw Error(errno_text("KVM_GET_DIRTY_LOG"));
    uint64_t base = ranges_[slot].host_offset / kPageSize;
    uint64_t npages = ranges_[slot].size / kPageSize;
    const auto& keep = untracked_[slot];
    size_t first_word = bm.size(), end_word = 0;  // the words the clear below re-arms
    for (size_t w = 0; w < bm.size(); ++w) {
      uint64_t bits = bm[w];
      if (!bits) continue;
      bm[w] = bits & ~keep[w];  // what the clear below re-arms
      if (bm[w]) {
        first_word = std::min(first_word, w);
        end_word = w + 1;
      }
      while (bits) {
        unsigned b = unsigned(__builtin_ctzll(bits));
        bits &= bits - 1;
        uint64_t page = w * 64 + b;
        if (page < npages) out.push_back(base + page);
      }
    }
    if (end_word == 0) continue;
    // Only the span with bits to clear: KVM reads and walks no more of the bitmap.
    kvm_clear_dirty_log clear{};
    clear.slot = uint32_t(slot);
    clear.first_page = first_word * 64;
    clear.num_pages = uint32_t(std::min<uint64_t>(end_word * 64, npages) - clear.first_page);
    clear.dirty_bitmap = bm.data() + first_word;
    if (::ioctl(vm_fd_, KVM_CLEAR_DIRTY_LOG, &clear) < 0) throw Error(errno_text("KVM_CLEAR_DIRTY_LOG"));
  }
}

uint32_t enable_dirty_ring(int vm_fd, uint32_t want_bytes) {
  long cap = KVM_CAP_DIRTY_LOG_RING_ACQ_REL;
  int max = ::ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);
  if (max <= 0) {
    cap = KVM_CAP_DIRTY_LOG_RING;
    max = ::ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);
  }
  if (max <= 0) return 0;
  uint32_t bytes = std::min<uint32_t>(want_bytes, uint32_t(max));
  bytes = 1u << (31 - __builtin_clz(bytes));  // a power of two
  kvm_enable_cap req{};
  req.cap = uint32_t(cap);
  req.args[0] = bytes;
  if (::ioctl(vm_fd, KVM_ENABLE_CAP, &req) != 0) throw Error(errno_text("ckpt.dirty_log: enabling the dirty ring"));
  return bytes;
}

DirtyRing::DirtyRing(int vm_fd, const std::vector<RamRange>& ranges, const std::vector<int>& vcpu_fds, uint32_t ring_bytes)
    : vm_fd_(vm_fd), ranges_(ranges), entries_(ring_bytes / sizeof(kvm_dirty_gfn)), map_bytes_(ring_bytes) {
  long page = ::sysconf(_SC_PAGESIZE);
  for (int fd : vcpu_fds) {
    void* p = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, KVM_DIRTY_LOG_PAGE_OFFSET * page);
    if (p == MAP_FAILED) throw Error(errno_text("mmap of a vCPU's dirty ring"));
    rings_.push_back(static_cast<kvm_dirty_gfn*>(p));
    fetch_.push_back(0);
  }
}

DirtyRing::~DirtyRing() {
  for (auto* r : rings_) ::munmap(r, map_bytes_);
}

// Takes every new entry of every ring, then has KVM re-arm them. mu_ held.
void DirtyRing::harvest(std::vector<uint64_t>& out) {
  bool any = false;
  for (size_t v = 0; v < rings_.size(); ++v) {
    for (;;) {
      kvm_dirty_gfn& e = rings_[v][fetch_[v] & (entries_ - 1)];
      if (!(__atomic_load_n(&e.flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY)) break;
      uint32_t slot = e.slot & 0xffff;
      if (slot < ranges_.size() && e.offset < ranges_[slot].size / kPageSize)
        out.push_back(ranges_[slot].host_offset / kPageSize + e.offset);
      __atomic_store_n(&e.flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
      ++fetch_[v];
      any = true;
    }
  }
  if (any && ::ioctl(vm_fd_, KVM_RESET_DIRTY_RINGS, 0) < 0) throw Error(errno_text("KVM_RESET_DIRTY_RINGS"));
}

void DirtyRing::collect(std::vector<uint64_t>& out) {
  std::lock_guard lock(mu_);
  out.insert(out.end(), pending_.begin(), pending_.end());
  pending_.clear();
  harvest(out);
}

void DirtyRing::drain_full() {
  std::lock_guard lock(mu_);
  harvest(pending_);
}

}  // namespace hsls::accel::kvm
