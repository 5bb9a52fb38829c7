// Thin RAII wrappers over /dev/kvm and a KVM VM file descriptor. Every
// capability the VMM relies on is probed here, never assumed.
#pragma once
#include "vmm/accel/kvm/kvm_api.h"
#include "vmm/core/fd.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hsls::accel::kvm {

using hsls::Fd;

// The KVM subsystem (/dev/kvm).
class Kvm {
 public:
  // Opens /dev/kvm and checks the API version and required capabilities.
  // Throws Error naming what is missing.
  explicit Kvm(const std::string& device = "/dev/kvm");
  // Whether `device` opens and offers all this VMM needs; if not, `why`
  // says what is missing. Throws nothing.
  static bool usable(std::string& why, const std::string& device = "/dev/kvm");

  int fd() const { return fd_.get(); }
  // Value of KVM_CHECK_EXTENSION (0 = absent).
  int check(long capability) const;
  int vcpu_mmap_size() const { return vcpu_mmap_size_; }
  // CPUID entries KVM supports (KVM_GET_SUPPORTED_CPUID).
  const std::vector<kvm_cpuid_entry2>& supported_cpuid() const { return cpuid_; }
  // Whether vCPU states are written with TR's type available: on AMD's SVM
  // (KVM's CPUID vendor AuthenticAMD or HygonGenuine), whose VMRUN does not
  // check it, because QEMU's emulated SVM (the KVM smoke leg) lets ring 3 use
  // the TSS's I/O permission bitmap only when the cached type is the
  // available one, which is how its own `ltr` leaves it. Elsewhere busy.
  bool tr_written_available() const { return tr_available_; }

 private:
  explicit Kvm(Fd fd) : fd_(std::move(fd)) {}  // the probe's: inspect() says what is missing
  static int open_device(const std::string& device, std::string& why);
  std::string inspect();

  Fd fd_;
  int vcpu_mmap_size_ = 0;
  bool tr_available_ = false;
  std::vector<kvm_cpuid_entry2> cpuid_;
};

// One KVM virtual machine: memory slots, in-kernel irqchip and PIT.
class KvmVmFd {
 public:
  explicit KvmVmFd(const Kvm& kvm);
  int fd() const { return fd_.get(); }

  // Maps host memory at a guest-physical address in `slot`.
  void set_memory(uint32_t slot, uint64_t gpa, uint64_t size, void* host, uint32_t flags = 0);
  // Creates the in-kernel LAPIC/IOAPIC/PIC and the PIT.
  void create_irqchip_and_pit();
  // Drives a GSI line of the in-kernel irqchip.
  void set_irq_line(uint32_t gsi, bool level);

 private:
  Fd fd_;
};

}  // namespace hsls::accel::kvm
