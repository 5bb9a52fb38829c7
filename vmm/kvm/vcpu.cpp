#include "vmm/kvm/vcpu.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "vmm/core/cpu_placement.h"
#include "vmm/core/error.h"
#include "vmm/core/log.h"
#include "vmm/machine.h"

namespace hsls {
namespace {

thread_local kvm_run* tls_run = nullptr;

void on_kick(int) {
  if (tls_run) tls_run->immediate_exit = 1;
}

// The exit reasons a report names.
std::string exit_name(uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_SHUTDOWN: return "triple fault (KVM_EXIT_SHUTDOWN)";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
    case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_EXCEPTION: return "KVM_EXIT_EXCEPTION";
    case KVM_EXIT_HYPERCALL: return "KVM_EXIT_HYPERCALL";
    case KVM_EXIT_DEBUG: return "KVM_EXIT_DEBUG";
    case KVM_EXIT_UNKNOWN: return "KVM_EXIT_UNKNOWN";
    default: return "exit reason " + std::to_string(reason);
  }
}

}  // namespace

void install_kick_signal() {
  struct sigaction sa{};
  sa.sa_handler = on_kick;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  sigaction(kKickSignal, &sa, nullptr);
}

Vcpu::Vcpu(Machine& machine, const Kvm& kvm, const Vm& vm, unsigned index) : machine_(machine), index_(index) {
  int fd = ::ioctl(vm.fd(), KVM_CREATE_VCPU, index);
  if (fd < 0) throw Error(errno_text("KVM_CREATE_VCPU " + std::to_string(index)));
  fd_ = Fd(fd);
  run_size_ = size_t(kvm.vcpu_mmap_size());
  void* run = ::mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (run == MAP_FAILED) throw Error(errno_text("mmap of vCPU run area"));
  run_ = static_cast<kvm_run*>(run);
  setup_cpuid(kvm);
  constexpr uint64_t kSync = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
  if ((uint64_t(kvm.check(KVM_CAP_SYNC_REGS)) & kSync) == kSync) {
    run_->kvm_valid_regs = kSync;  // KVM stores them into the run area at every exit
    sync_regs_ = true;
  }
}

Vcpu::~Vcpu() {
  if (thread_.joinable()) thread_.join();
  if (run_) ::munmap(run_, run_size_);
}

// Gives the vCPU KVM's supported CPUID with its own APIC ID filled in.
void Vcpu::setup_cpuid(const Kvm& kvm) {
  const auto& entries = kvm.supported_cpuid();
  std::vector<uint8_t> buf(sizeof(kvm_cpuid2) + entries.size() * sizeof(kvm_cpuid_entry2));
  auto* c = reinterpret_cast<kvm_cpuid2*>(buf.data());
  c->nent = uint32_t(entries.size());
  std::memcpy(c->entries, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
  for (uint32_t i = 0; i < c->nent; ++i) {
    auto& e = c->entries[i];
    if (e.function == 1) e.ebx = (e.ebx & 0x00ffffff) | (index_ << 24);
    if (e.function == 0xb || e.function == 0x1f) e.edx = index_;
  }
  if (::ioctl(fd_.get(), KVM_SET_CPUID2, c) != 0) throw Error(errno_text("KVM_SET_CPUID2"));
}

void Vcpu::set_pvh_entry(uint32_t entry, uint32_t start_info) {
  kvm_sregs s{};
  if (::ioctl(fd_.get(), KVM_GET_SREGS, &s) != 0) throw Error(errno_text("KVM_GET_SREGS"));
  kvm_segment code{};
  code.base = 0;
  code.limit = 0xffffffff;
  code.selector = 0x10;
  code.type = 0xb;  // execute/read, accessed
  code.present = 1;
  code.s = 1;
  code.db = 1;
  code.g = 1;
  kvm_segment data = code;
  data.type = 0x3;  // read/write, accessed
  data.selector = 0x18;
  s.cs = code;
  s.ds = s.es = s.fs = s.gs = s.ss = data;
  s.tr.type = 0xb;  // busy 32-bit TSS, required for VM entry
  s.tr.present = 1;
  s.tr.limit = 0x67;
  s.cr0 = 0x11;  // PE | ET
  s.cr4 = 0;
  s.efer = 0;
  if (::ioctl(fd_.get(), KVM_SET_SREGS, &s) != 0) throw Error(errno_text("KVM_SET_SREGS"));
  kvm_regs r{};
  r.rip = entry;
  r.rbx = start_info;
  r.rflags = 0x2;
  if (::ioctl(fd_.get(), KVM_SET_REGS, &r) != 0) throw Error(errno_text("KVM_SET_REGS"));
}

void Vcpu::start() {
  thread_ = std::thread([this] { thread_main(); });
}

void Vcpu::join() {
  if (thread_.joinable()) thread_.join();
}

void Vcpu::kick() {
  std::lock_guard lock(alive_mu_);
  if (alive_) pthread_kill(tid_.load(), kKickSignal);
}

kvm_regs Vcpu::regs() const {
  kvm_regs r{};
  if (::ioctl(fd_.get(), KVM_GET_REGS, &r) != 0) throw Error(errno_text("KVM_GET_REGS"));
  return r;
}

kvm_sregs Vcpu::sregs() const {
  kvm_sregs s{};
  if (::ioctl(fd_.get(), KVM_GET_SREGS, &s) != 0) throw Error(errno_text("KVM_GET_SREGS"));
  return s;
}

kvm_mp_state Vcpu::mp_state() const {
  kvm_mp_state m{};
  if (::ioctl(fd_.get(), KVM_GET_MP_STATE, &m) != 0) throw Error(errno_text("KVM_GET_MP_STATE"));
  return m;
}

// The run loop: park if the machine asks, run the guest, dispatch the exit.
void Vcpu::thread_main() {
  tid_ = pthread_self();
  tls_run = run_;
  {
    std::lock_guard lock(alive_mu_);
    alive_ = true;
  }
  std::string tname = "vcpu" + std::to_string(index_);
  pthread_setname_np(pthread_self(), tname.c_str());
  if (host_cpu_ >= 0 && !pin_this_thread({host_cpu_}))
    log::get("vcpu")->warn("vCPU {}: cannot pin its thread to CPU {}; it runs unpinned", index_, host_cpu_);
  machine_.vcpu_started(*this);
  while (machine_.vcpu_checkpoint(*this)) {
    int r = ::ioctl(fd_.get(), KVM_RUN, 0);
    io_pending_ = false;
    if (r < 0) {
      run_->immediate_exit = 0;
      // EINTR: kicked; EAGAIN: an AP woke from wait-for-SIPI. Both: loop.
      if (errno == EINTR || errno == EAGAIN) continue;
      fail(errno_text("KVM_RUN"));
      break;
    }
    if (!dispatch_exit()) break;
  }
  {
    std::lock_guard lock(alive_mu_);
    alive_ = false;
  }
  machine_.vcpu_exited(*this);
}

void Vcpu::complete_pending_io() {
  if (!io_pending_) return;
  run_->immediate_exit = 1;  // KVM completes the I/O first, then returns EINTR
  ::ioctl(fd_.get(), KVM_RUN, 0);
  run_->immediate_exit = 0;
  io_pending_ = false;
}

bool Vcpu::dispatch_exit() {
  switch (run_->exit_reason) {
    case KVM_EXIT_IO: io_pending_ = true; return handle_io();
    case KVM_EXIT_MMIO: io_pending_ = true; return handle_mmio();
    case KVM_EXIT_HLT: return true;
    case KVM_EXIT_INTR: return true;
    case KVM_EXIT_DIRTY_RING_FULL: machine_.dirty_ring_full(); return true;
    case KVM_EXIT_SYSTEM_EVENT:
      machine_.guest_system_event(run_->system_event.type);
      return false;
    case KVM_EXIT_INTERNAL_ERROR: {
      std::string why = "KVM_EXIT_INTERNAL_ERROR suberror " + std::to_string(run_->internal.suberror);
      if (run_->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) why += " (instruction emulation failed)";
      fail(why);
      return false;
    }
    case KVM_EXIT_FAIL_ENTRY:
      fail("KVM_EXIT_FAIL_ENTRY, hardware reason " + std::to_string(run_->fail_entry.hardware_entry_failure_reason));
      return false;
    default:
      fail(exit_name(run_->exit_reason));
      return false;
  }
}

// Port I/O: every access (string I/O repeats `count` times) goes to the owner.
bool Vcpu::handle_io() {
  auto& io = run_->io;
  uint64_t offset = 0;
  Device* dev = machine_.pio_bus().find(io.port, io.size, offset);
  if (!dev) {
    fail(std::string("unowned I/O port ") + (io.direction == KVM_EXIT_IO_OUT ? "write" : "read") + " at " +
         fmt::format("{:#x}", io.port) + " size " + std::to_string(io.size));
    return false;
  }
  auto* data = reinterpret_cast<uint8_t*>(run_) + io.data_offset;
  for (uint32_t i = 0; i < io.count; ++i, data += io.size) {
    if (io.direction == KVM_EXIT_IO_OUT) dev->write(offset, data, io.size);
    else dev->read(offset, data, io.size);
  }
  return true;
}

// MMIO: the access goes to the device that owns the address.
bool Vcpu::handle_mmio() {
  auto& m = run_->mmio;
  uint64_t offset = 0;
  Device* dev = m.len <= 8 ? machine_.mmio_bus().find(m.phys_addr, m.len, offset) : nullptr;
  if (!dev) {
    fail(std::string("unowned MMIO ") + (m.is_write ? "write" : "read") + " at " + fmt::format("{:#x}", m.phys_addr) +
         " size " + std::to_string(m.len));
    return false;
  }
  if (m.is_write) dev->write(offset, m.data, m.len);
  else dev->read(offset, m.data, m.len);
  return true;
}

// Stops the VM with a report (reason, registers, code around rip).
void Vcpu::fail(const std::string& reason) { machine_.vcpu_failed(*this, reason); }

}  // namespace hsls
