// The KVM backend's VM: memory slots on the NVM mapping, the in-kernel
// irqchip (LAPICs, IOAPIC, PIC pair) and PIT, irqfd/ioeventfd, and KVM's
// dirty log (bitmap or ring).
#pragma once
#include <memory>
#include <vector>

#include "vmm/accel/accel.h"
#include "vmm/accel/kvm/kvm.h"

namespace hsls::accel::kvm {

class KvmVcpu;

class KvmVm : public Vm {
 public:
  KvmVm();
  std::string name() const override { return "kvm"; }
  void map_ram(GuestMemory& mem, const DirtyLogRequest& dirty) override;
  void create_platform() override;
  std::unique_ptr<Vcpu> create_vcpu(unsigned index, IoHandler& io) override;
  void set_irq(uint32_t gsi, bool level) override { vm_.set_irq_line(gsi, level); }
  std::unique_ptr<IrqEdge> irq_edge(uint32_t gsi) override;
  bool bind_mmio_event(uint64_t addr, uint32_t value, int event_fd) override;
  std::unique_ptr<DirtyLog> create_dirty_log() override;
  platform::PlatformState get_platform() override;
  void set_platform(const platform::PlatformState& s) override;

 private:
  Kvm kvm_;
  KvmVmFd vm_;
  std::vector<uint32_t> msrs_;
  std::vector<RamRange> ranges_;
  DirtyLogRequest dirty_;
  uint32_t ring_bytes_ = 0;
  std::vector<KvmVcpu*> vcpus_;
};

// Whether /dev/kvm opens and offers what we need; if not, `why` says what is missing.
bool kvm_usable(std::string& why);

}  // namespace hsls::accel::kvm
