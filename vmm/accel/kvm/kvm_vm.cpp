#include "vmm/accel/kvm/kvm_vm.h"

#include "vmm/accel/kvm/dirty_log.h"
#include "vmm/accel/kvm/irqfd.h"
#include "vmm/accel/kvm/kvm_state.h"
#include "vmm/accel/kvm/kvm_vcpu.h"
#include "vmm/core/error.h"
#include "vmm/core/log.h"

namespace hsls::accel::kvm {

KvmVm::KvmVm() : vm_(kvm_), msrs_(msrs_to_save(kvm_.fd())) {}

bool kvm_usable(std::string& why) { return Kvm::usable(why); }

// The dirty ring must be enabled before any vCPU exists, and slots come
// before the irqchip and the PIT: a slot change after either waits several
// ms in KVM (6-12 ms measured), before them ~0.05 ms.
void KvmVm::map_ram(GuestMemory& mem, const DirtyLogRequest& dirty) {
  dirty_ = dirty;
  ranges_ = mem.ranges();
  if (dirty.enabled) {
    if (dirty.kind == "tlb" || dirty.kind == "store")
      log::get("ckpt")->info("ckpt.dirty_log = {} is a software-CPU setting; KVM logs with its {}", dirty.kind,
                             dirty.want_untrack ? "bitmap" : "ring when it has one");
    // auto: hot leases need the bitmap (the ring re-arms every page it reports); without them the ring.
    if (dirty.kind == "ring" && dirty.want_untrack)
      log::get("ckpt")->warn("ckpt.dirty_log = ring cannot keep hot pages untracked: ckpt.hot_lease has no effect");
    if (dirty.kind == "ring" || (dirty.kind == "auto" && !dirty.want_untrack)) {
      ring_bytes_ = enable_dirty_ring(vm_.fd(), 1u << 20);
      if (!ring_bytes_ && dirty.kind == "ring")
        throw Error("ckpt.dirty_log: this KVM has no dirty ring (allowed here: bitmap, auto)");
    }
  }
  uint32_t flags = dirty.enabled ? KVM_MEM_LOG_DIRTY_PAGES : 0;
  uint32_t slot = 0;
  for (const auto& r : ranges_) vm_.set_memory(slot++, r.gpa, r.size, mem.host_base() + r.host_offset, flags);
}

void KvmVm::create_platform() { vm_.create_irqchip_and_pit(); }

std::unique_ptr<Vcpu> KvmVm::create_vcpu(unsigned index, IoHandler&) {
  auto v = std::make_unique<KvmVcpu>(kvm_, vm_, index, msrs_);
  vcpus_.push_back(v.get());
  return v;
}

std::unique_ptr<IrqEdge> KvmVm::irq_edge(uint32_t gsi) { return std::make_unique<Irqfd>(kvm_, vm_, gsi); }

bool KvmVm::bind_mmio_event(uint64_t addr, uint32_t value, int event_fd) {
  return bind_ioeventfd(kvm_, vm_, addr, value, event_fd);
}

std::unique_ptr<DirtyLog> KvmVm::create_dirty_log() {
  if (!dirty_.enabled) return nullptr;
  if (ring_bytes_) {
    std::vector<int> fds;
    for (auto* v : vcpus_) fds.push_back(v->fd());
    return std::make_unique<DirtyRing>(vm_.fd(), ranges_, fds, ring_bytes_);
  }
  if (!enable_manual_dirty_log(vm_.fd(), kvm_.check(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)))
    log::get("ckpt")->warn("KVM lacks manual dirty-log protection; fetching the log also clears it");
  return std::make_unique<DirtyBitmap>(vm_.fd(), ranges_);
}

platform::PlatformState KvmVm::get_platform() {
  platform::PlatformState s;
  save_platform(vm_.fd(), s);
  s.clock.guest_ns = guest_time_ns();
  return s;
}

void KvmVm::set_platform(const platform::PlatformState& s) { load_platform(vm_.fd(), s); }

}  // namespace hsls::accel::kvm
