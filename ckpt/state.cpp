#include "ckpt/state.h"

#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/core/error.h"

namespace hsls::ckpt {
namespace {

// Runs a state ioctl; throws naming it on failure.
void ioctl_or_throw(int fd, unsigned long request, void* arg, const char* name) {
  if (::ioctl(fd, request, arg) < 0) throw Error(errno_text(name));
}

// MSRs with architectural or paravirtual state a guest can depend on.
constexpr uint32_t kWanted[] = {
    0x10,        // IA32_TSC
    0x3b,        // IA32_TSC_ADJUST
    0x174, 0x175, 0x176,  // SYSENTER_CS/ESP/EIP
    0x1a0,       // IA32_MISC_ENABLE
    0x277,       // IA32_PAT
    0x2ff,       // MTRR default type
    0x6e0,       // IA32_TSC_DEADLINE
    0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084,  // STAR, LSTAR, CSTAR, SFMASK
    0xc0000102,  // KERNEL_GS_BASE
    0xc0000103,  // TSC_AUX
    0x4b564d00, 0x4b564d01, 0x4b564d02, 0x4b564d03, 0x4b564d04,  // kvmclock & co.
    0x11, 0x12,  // old kvmclock
};

struct MsrBuffer {
  kvm_msrs head;
  kvm_msr_entry entries[kMaxMsrs];
};

}  // namespace

std::vector<uint32_t> msrs_to_save(int kvm_fd) {
  std::vector<uint8_t> buf(sizeof(kvm_msr_list) + 1024 * sizeof(uint32_t));
  auto* list = reinterpret_cast<kvm_msr_list*>(buf.data());
  list->nmsrs = 1024;
  std::vector<uint32_t> out;
  if (::ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) throw Error(errno_text("KVM_GET_MSR_INDEX_LIST"));
  for (uint32_t want : kWanted)
    if (std::find(list->indices, list->indices + list->nmsrs, want) != list->indices + list->nmsrs && out.size() < kMaxMsrs)
      out.push_back(want);
  return out;
}

void save_vcpu(int fd, unsigned index, const std::vector<uint32_t>& msrs, VcpuState& s, const kvm_sync_regs* synced) {
  s.version = VcpuState::kVersion;
  s.index = index;
  if (synced) {
    s.regs = synced->regs;
    s.sregs = synced->sregs;
    s.events = synced->events;
  } else {
    ioctl_or_throw(fd, KVM_GET_REGS, &s.regs, "KVM_GET_REGS");
    ioctl_or_throw(fd, KVM_GET_SREGS, &s.sregs, "KVM_GET_SREGS");
    ioctl_or_throw(fd, KVM_GET_VCPU_EVENTS, &s.events, "KVM_GET_VCPU_EVENTS");
  }
  ioctl_or_throw(fd, KVM_GET_XSAVE, &s.xsave, "KVM_GET_XSAVE");
  ioctl_or_throw(fd, KVM_GET_XCRS, &s.xcrs, "KVM_GET_XCRS");
  ioctl_or_throw(fd, KVM_GET_LAPIC, &s.lapic, "KVM_GET_LAPIC");
  ioctl_or_throw(fd, KVM_GET_MP_STATE, &s.mp_state, "KVM_GET_MP_STATE");
  ioctl_or_throw(fd, KVM_GET_DEBUGREGS, &s.debugregs, "KVM_GET_DEBUGREGS");
  MsrBuffer buf{};
  buf.head.nmsrs = uint32_t(msrs.size());
  for (size_t i = 0; i < msrs.size(); ++i) buf.entries[i].index = msrs[i];
  int n = ::ioctl(fd, KVM_GET_MSRS, &buf);
  if (n < 0) throw Error(errno_text("KVM_GET_MSRS"));
  s.nmsrs = uint32_t(n);  // KVM stops at the first MSR it cannot read
  std::memcpy(s.msrs, buf.entries, sizeof(kvm_msr_entry) * size_t(n));
}

void load_vcpu(int fd, const VcpuState& s) {
  if (s.version != VcpuState::kVersion) throw Error("vCPU state version " + std::to_string(s.version) + " is not supported");
  auto copy = s;  // the SET ioctls take non-const pointers
  ioctl_or_throw(fd, KVM_SET_SREGS, &copy.sregs, "KVM_SET_SREGS");
  ioctl_or_throw(fd, KVM_SET_REGS, &copy.regs, "KVM_SET_REGS");
  ioctl_or_throw(fd, KVM_SET_XCRS, &copy.xcrs, "KVM_SET_XCRS");
  ioctl_or_throw(fd, KVM_SET_XSAVE, &copy.xsave, "KVM_SET_XSAVE");
  ioctl_or_throw(fd, KVM_SET_LAPIC, &copy.lapic, "KVM_SET_LAPIC");
  MsrBuffer buf{};
  buf.head.nmsrs = std::min<uint32_t>(copy.nmsrs, kMaxMsrs);
  std::memcpy(buf.entries, copy.msrs, sizeof(kvm_msr_entry) * buf.head.nmsrs);
  int n = ::ioctl(fd, KVM_SET_MSRS, &buf);
  if (n < 0 || uint32_t(n) != buf.head.nmsrs)
    throw Error("KVM_SET_MSRS restored " + std::to_string(n) + " of " + std::to_string(buf.head.nmsrs) + " MSRs");
  ioctl_or_throw(fd, KVM_SET_VCPU_EVENTS, &copy.events, "KVM_SET_VCPU_EVENTS");
  ioctl_or_throw(fd, KVM_SET_MP_STATE, &copy.mp_state, "KVM_SET_MP_STATE");
  ioctl_or_throw(fd, KVM_SET_DEBUGREGS, &copy.debugregs, "KVM_SET_DEBUGREGS");
}

std::string regs_difference(const kvm_regs& want, const kvm_regs& got) {
  static const char* const names[] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8",  "r9",
                                      "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"};
  static_assert(sizeof(kvm_regs) == sizeof(names) / sizeof(names[0]) * 8);
  uint64_t a[18], b[18];
  std::memcpy(a, &want, sizeof a);
  std::memcpy(b, &got, sizeof b);
  std::string out;
  for (size_t i = 0; i < 18; ++i)
    if (a[i] != b[i]) out += fmt::format("{}{} saved {:#x} loaded {:#x}", out.empty() ? "" : ", ", names[i], a[i], b[i]);
  return out;
}

void save_vm(int fd, VmState& s) {
  s.version = VmState::kVersion;
  s.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
  s.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
  s.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
  ioctl_or_throw(fd, KVM_GET_IRQCHIP, &s.pic_master, "KVM_GET_IRQCHIP(PIC master)");
  ioctl_or_throw(fd, KVM_GET_IRQCHIP, &s.pic_slave, "KVM_GET_IRQCHIP(PIC slave)");
  ioctl_or_throw(fd, KVM_GET_IRQCHIP, &s.ioapic, "KVM_GET_IRQCHIP(IOAPIC)");
  ioctl_or_throw(fd, KVM_GET_PIT2, &s.pit, "KVM_GET_PIT2");
  ioctl_or_throw(fd, KVM_GET_CLOCK, &s.clock, "KVM_GET_CLOCK");
}

void load_vm(int fd, const VmState& s) {
  if (s.version != VmState::kVersion) throw Error("VM state version " + std::to_string(s.version) + " is not supported");
  auto copy = s;
  ioctl_or_throw(fd, KVM_SET_IRQCHIP, &copy.pic_master, "KVM_SET_IRQCHIP(PIC master)");
  ioctl_or_throw(fd, KVM_SET_IRQCHIP, &copy.pic_slave, "KVM_SET_IRQCHIP(PIC slave)");
  ioctl_or_throw(fd, KVM_SET_IRQCHIP, &copy.ioapic, "KVM_SET_IRQCHIP(IOAPIC)");
  ioctl_or_throw(fd, KVM_SET_PIT2, &copy.pit, "KVM_SET_PIT2");
  copy.clock.flags = 0;  // only the clock value; KVM refuses unknown flags
  ioctl_or_throw(fd, KVM_SET_CLOCK, &copy.clock, "KVM_SET_CLOCK");
}

}  // namespace hsls::ckpt
