// eventfds and their KVM bindings: irqfd (an eventfd write injects an
// interrupt on a GSI without an ioctl per interrupt) and ioeventfd (a guest
// write to an MMIO address signals an eventfd inside KVM, with no exit to
// the VMM). Both are probed; without them the device falls back to
// KVM_IRQ_LINE and to handling the MMIO exit itself.
#pragma once
#include <cstdint>

#include "vmm/devices/device.h"
#include "vmm/kvm/kvm.h"

namespace hsls {

class EventFd {
 public:
  EventFd();  // non-blocking; throws Error
  int fd() const { return fd_.get(); }
  void signal();
  // Resets the counter; returns what it was.
  uint64_t drain();

 private:
  Fd fd_;
};

// An edge-triggered interrupt on `gsi` of the in-kernel irqchip.
class Irqfd : public IrqEdge {
 public:
  Irqfd(const Kvm& kvm, Vm& vm, uint32_t gsi);
  ~Irqfd() override;
  void trigger() override;
  bool in_kernel() const { return bound_; }

 private:
  Vm& vm_;
  uint32_t gsi_;
  EventFd efd_;
  bool bound_ = false;
};

// Binds `efd` to 4-byte guest writes of `value` at guest-physical `addr`.
// Returns false if KVM cannot (the write then exits to the VMM as usual).
bool bind_ioeventfd(const Kvm& kvm, Vm& vm, uint64_t addr, uint32_t value, const EventFd& efd);

}  // namespace hsls
