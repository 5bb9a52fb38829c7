#include "ckpt/dirty_log.h"

#include <sys/ioctl.h>

#include <cstring>

#include "vmm/core/error.h"
#include "vmm/kvm/kvm_api.h"

namespace hsls::ckpt {

bool enable_manual_dirty_log(int vm_fd, int cap_value) {
  if (cap_value <= 0) return false;
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
  cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;  // not INITIALLY_SET: start clean
  return ::ioctl(vm_fd, KVM_ENABLE_CAP, &cap) == 0;
}

DirtyLog::DirtyLog(int vm_fd, const std::vector<RamRange>& ranges) : vm_fd_(vm_fd), ranges_(ranges) {
  for (const auto& r : ranges_) bitmaps_.emplace_back((r.size / kPageSize + 63) / 64, 0);
}

void DirtyLog::collect(std::vector<uint64_t>& out) {
  for (size_t slot = 0; slot < ranges_.size(); ++slot) {
    auto& bm = bitmaps_[slot];
    kvm_dirty_log log{};
    log.slot = uint32_t(slot);
    log.dirty_bitmap = bm.data();
    if (::ioctl(vm_fd_, KVM_GET_DIRTY_LOG, &log) < 0) throw Error(errno_text("KVM_GET_DIRTY_LOG"));
    uint64_t base = ranges_[slot].host_offset / kPageSize;
    uint64_t npages = ranges_[slot].size / kPageSize;
    bool any = false;
    for (size_t w = 0; w < bm.size(); ++w) {
      uint64_t bits = bm[w];
      if (!bits) continue;
      any = true;
      while (bits) {
        unsigned b = unsigned(__builtin_ctzll(bits));
        bits &= bits - 1;
        uint64_t page = w * 64 + b;
        if (page < npages) out.push_back(base + page);
      }
    }
    if (!any) continue;
    kvm_clear_dirty_log clear{};
    clear.slot = uint32_t(slot);
    clear.first_page = 0;
    clear.num_pages = uint32_t(((npages + 63) / 64) * 64);
    clear.dirty_bitmap = bm.data();
    if (clear.num_pages > npages) clear.num_pages = uint32_t(npages);
    if (::ioctl(vm_fd_, KVM_CLEAR_DIRTY_LOG, &clear) < 0) throw Error(errno_text("KVM_CLEAR_DIRTY_LOG"));
  }
}

}  // namespace hsls::ckpt
