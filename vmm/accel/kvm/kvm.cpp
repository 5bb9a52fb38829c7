#include "vmm/accel/kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vmm/core/error.h"
#include "vmm/core/log.h"

namespace hsls::accel::kvm {

namespace {

struct RequiredCap {
  long cap;
  const char* name;
};

// What this VMM cannot run without.
const RequiredCap kRequired[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},         {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},               {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},     {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
};

// Whether KVM's CPUID names a vendor whose KVM runs on SVM.
bool svm_vendor(const std::vector<kvm_cpuid_entry2>& cpuid) {
  for (const auto& e : cpuid) {
    if (e.function != 0) continue;
    char v[13] = {};
    std::memcpy(v, &e.ebx, 4);
    std::memcpy(v + 4, &e.edx, 4);
    std::memcpy(v + 8, &e.ecx, 4);
    return std::strcmp(v, "AuthenticAMD") == 0 || std::strcmp(v, "HygonGenuine") == 0;
  }
  return false;
}

}  // namespace

// Opens `device` read-write; -1 with `why` naming the cause if it cannot.
int Kvm::open_device(const std::string& device, std::string& why) {
  int fd = ::open(device.c_str(), O_RDWR | O_CLOEXEC);
  if (fd >= 0) return fd;
  if (errno == ENOENT)
    why = device + " does not exist: this machine has no KVM (load kvm_intel, kvm_amd or kvm_pvm)";
  else if (errno == EACCES || errno == EPERM)
    why = device + ": permission denied (run as root or join the 'kvm' group)";
  else
    why = errno_text("cannot open " + device);
  return -1;
}

// Checks the API version and the capabilities this VMM needs, and reads
// the vCPU mapping size and the supported CPUID. Returns what is missing,
// or "" when all is there: no exception, so that probing a host without
// KVM (accel = auto) costs a static vmm no unwinding.
std::string Kvm::inspect() {
  int version = ::ioctl(fd_.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION)
    return "KVM API version " + std::to_string(version) + " is not supported (need " + std::to_string(KVM_API_VERSION) + ")";
  for (const auto& r : kRequired)
    if (check(r.cap) <= 0) return std::string("KVM lacks a needed capability: ") + r.name;
  vcpu_mmap_size_ = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (vcpu_mmap_size_ <= 0) return errno_text("KVM_GET_VCPU_MMAP_SIZE");
  for (unsigned n = 64; n <= 4096; n *= 2) {
    std::vector<uint8_t> buf(sizeof(kvm_cpuid2) + n * sizeof(kvm_cpuid_entry2));
    auto* c = reinterpret_cast<kvm_cpuid2*>(buf.data());
    c->nent = n;
    if (::ioctl(fd_.get(), KVM_GET_SUPPORTED_CPUID, c) == 0) {
      cpuid_.assign(c->entries, c->entries + c->nent);
      break;
    }
    if (errno != E2BIG) return errno_text("KVM_GET_SUPPORTED_CPUID");
  }
  if (cpuid_.empty()) return "KVM_GET_SUPPORTED_CPUID returned no entries";
  tr_available_ = svm_vendor(cpuid_);
  return "";
}

// Whether `device` opens and offers all this VMM needs; if not, `why` says what is missing.
bool Kvm::usable(std::string& why, const std::string& device) {
  int fd = open_device(device, why);
  if (fd < 0) return false;
  Kvm probe(Fd{fd});
  why = probe.inspect();
  return why.empty();
}

Kvm::Kvm(const std::string& device) {
  std::string why;
  int fd = open_device(device, why);
  if (fd < 0) throw Error(why);
  fd_ = Fd(fd);
  why = inspect();
  if (!why.empty()) throw Error(why);
  log::get("kvm")->debug("KVM API {} ok, {} CPUID entries", KVM_API_VERSION, cpuid_.size());
}

int Kvm::check(long capability) const { return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability); }

KvmVmFd::KvmVmFd(const Kvm& kvm) {
  int fd = -1;
  do fd = ::ioctl(kvm.fd(), KVM_CREATE_VM, 0);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) throw Error(errno_text("KVM_CREATE_VM"));
  fd_ = Fd(fd);
  // Addresses VMX needs for real mode; placed just below the LAPIC, outside RAM.
  if (::ioctl(fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) != 0) throw Error(errno_text("KVM_SET_TSS_ADDR"));
  if (kvm.check(KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
    uint64_t idmap = 0xfffbc000;
    if (::ioctl(fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) != 0) throw Error(errno_text("KVM_SET_IDENTITY_MAP_ADDR"));
  }
}

void KvmVmFd::set_memory(uint32_t slot, uint64_t gpa, uint64_t size, void* host, uint32_t flags) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0)
    throw Error(errno_text("KVM_SET_USER_MEMORY_REGION slot " + std::to_string(slot)));
}

void KvmVmFd::create_irqchip_and_pit() {
  if (::ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) != 0) throw Error(errno_text("KVM_CREATE_IRQCHIP"));
  kvm_pit_config pit{};
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  if (::ioctl(fd_.get(), KVM_CREATE_PIT2, &pit) != 0) throw Error(errno_text("KVM_CREATE_PIT2"));
}

void KvmVmFd::set_irq_line(uint32_t gsi, bool level) {
  kvm_irq_level irq{};
  irq.irq = gsi;
  irq.level = level ? 1 : 0;
  if (::ioctl(fd_.get(), KVM_IRQ_LINE, &irq) != 0) log::get("kvm")->warn("KVM_IRQ_LINE {} failed", gsi);
}

}  // namespace hsls::accel::kvm
