// eventfds bound inside KVM: irqfd (an eventfd write injects an interrupt
// on a GSI without an ioctl per interrupt) and ioeventfd (a guest write to
// an MMIO address signals an eventfd inside KVM, with no exit to the VMM).
// Both are probed; without them the device falls back to KVM_IRQ_LINE and
// to handling the MMIO exit itself.
#pragma once
#include <cstdint>

#include "vmm/accel/kvm/kvm.h"
#include "vmm/core/event_fd.h"
#include "vmm/devices/device.h"

namespace hsls::accel::kvm {

// An edge-triggered interrupt on `gsi` of the in-kernel irqchip.
class Irqfd : public IrqEdge {
 public:
  Irqfd(const Kvm& kvm, KvmVmFd& vm, uint32_t gsi);
  ~Irqfd() override;
  void trigger() override;
  bool in_kernel() const { return bound_; }

 private:
  KvmVmFd& vm_;
  uint32_t gsi_;
  EventFd efd_;
  bool bound_ = false;
};

// Binds `event_fd` to 4-byte guest writes of `value` at guest-physical `addr`.
// Returns false if KVM cannot (the write then exits to the VMM as usual).
bool bind_ioeventfd(const Kvm& kvm, KvmVmFd& vm, uint64_t addr, uint32_t value, int event_fd);

}  // namespace hsls::accel::kvm
