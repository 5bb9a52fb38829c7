#include "vmm/accel/kvm/irqfd.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/core/error.h"
#include "vmm/core/log.h"

namespace hsls::accel::kvm {

Irqfd::Irqfd(const Kvm& kvm, KvmVmFd& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {
  if (kvm.check(KVM_CAP_IRQFD) > 0) {
    kvm_irqfd req{};
    req.fd = uint32_t(efd_.fd());
    req.gsi = gsi;
    bound_ = ::ioctl(vm.fd(), KVM_IRQFD, &req) == 0;
  }
  if (!bound_) log::get("kvm")->info("no irqfd for GSI {}: interrupts go through KVM_IRQ_LINE", gsi);
}

Irqfd::~Irqfd() {
  if (!bound_) return;
  kvm_irqfd req{};
  req.fd = uint32_t(efd_.fd());
  req.gsi = gsi_;
  req.flags = KVM_IRQFD_FLAG_DEASSIGN;
  ::ioctl(vm_.fd(), KVM_IRQFD, &req);
}

void Irqfd::trigger() {
  if (bound_) {
    efd_.signal();
  } else {
    vm_.set_irq_line(gsi_, true);
    vm_.set_irq_line(gsi_, false);
  }
}

bool bind_ioeventfd(const Kvm& kvm, KvmVmFd& vm, uint64_t addr, uint32_t value, int event_fd) {
  if (kvm.check(KVM_CAP_IOEVENTFD) <= 0) return false;
  kvm_ioeventfd req{};
  req.datamatch = value;
  req.addr = addr;
  req.len = 4;
  req.fd = event_fd;
  req.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
  return ::ioctl(vm.fd(), KVM_IOEVENTFD, &req) == 0;
}

}  // namespace hsls::accel::kvm
