#include "vmm/accel/kvm/kvm_vcpu.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/accel/kick.h"
#include "vmm/accel/kvm/kvm_state.h"
#include "vmm/core/error.h"

namespace hsls::accel::kvm {
namespace {

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

Exit failed(std::string reason) {
  Exit e;
  e.kind = Exit::Kind::failed;
  e.reason = std::move(reason);
  return e;
}

}  // namespace

KvmVcpu::KvmVcpu(const Kvm& kvm, const KvmVmFd& vm, unsigned index, const std::vector<uint32_t>& msrs)
    : index_(index), msrs_(msrs), tr_form_(kvm.tr_written_available() ? TrForm::available : TrForm::busy) {
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

KvmVcpu::~KvmVcpu() {
  if (run_) ::munmap(run_, run_size_);
}

// Gives the vCPU KVM's supported CPUID with its own APIC ID filled in.
void KvmVcpu::setup_cpuid(const Kvm& kvm) {
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

void KvmVcpu::thread_started() {
  tid_ = pthread_self();
  set_thread_vcpu(this);
  std::lock_guard lock(alive_mu_);
  alive_ = true;
}

void KvmVcpu::thread_ended() {
  std::lock_guard lock(alive_mu_);
  alive_ = false;
}

void KvmVcpu::kick() {
  std::lock_guard lock(alive_mu_);
  if (alive_) pthread_kill(tid_.load(), kKickSignal);
}

// One KVM_RUN; a kick (immediate_exit) or a woken AP (EAGAIN) is an interruption.
Exit KvmVcpu::run() {
  synced_valid_ = false;
  int r = ::ioctl(fd_.get(), KVM_RUN, 0);
  io_pending_ = false;
  synced_valid_ = sync_regs_;
  if (r < 0) {
    run_->immediate_exit = 0;
    if (errno == EINTR || errno == EAGAIN) return Exit{};
    return failed(errno_text("KVM_RUN"));
  }
  return exit_from_run();
}

// Translates the exit KVM left in the run area.
Exit KvmVcpu::exit_from_run() {
  Exit e;
  switch (run_->exit_reason) {
    case KVM_EXIT_IO: {
      io_pending_ = true;
      e.kind = Exit::Kind::io;
      e.addr = run_->io.port;
      e.size = run_->io.size;
      e.count = run_->io.count;
      e.write = run_->io.direction == KVM_EXIT_IO_OUT;
      e.data = reinterpret_cast<uint8_t*>(run_) + run_->io.data_offset;
      return e;
    }
    case KVM_EXIT_MMIO:
      io_pending_ = true;
      if (run_->mmio.len > 8) return failed(fmt::format("MMIO access of {} bytes at {:#x}", run_->mmio.len, run_->mmio.phys_addr));
      e.kind = Exit::Kind::mmio;
      e.addr = run_->mmio.phys_addr;
      e.size = run_->mmio.len;
      e.write = run_->mmio.is_write;
      e.data = run_->mmio.data;
      return e;
    case KVM_EXIT_HLT: e.kind = Exit::Kind::halt; return e;
    case KVM_EXIT_INTR: return e;
    case KVM_EXIT_DIRTY_RING_FULL: e.kind = Exit::Kind::dirty_full; return e;
    case KVM_EXIT_SYSTEM_EVENT:
      e.kind = run_->system_event.type == KVM_SYSTEM_EVENT_RESET ? Exit::Kind::reset : Exit::Kind::poweroff;
      return e;
    case KVM_EXIT_INTERNAL_ERROR: {
      std::string why = "KVM_EXIT_INTERNAL_ERROR suberror " + std::to_string(run_->internal.suberror);
      if (run_->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) why += " (instruction emulation failed)";
      return failed(why);
    }
    case KVM_EXIT_FAIL_ENTRY:
      return failed("KVM_EXIT_FAIL_ENTRY, hardware reason " + std::to_string(run_->fail_entry.hardware_entry_failure_reason));
    default: return failed(exit_name(run_->exit_reason));
  }
}

void KvmVcpu::complete_pending_io() {
  if (!io_pending_) return;
  run_->immediate_exit = 1;  // KVM completes the I/O first, then returns EINTR
  ::ioctl(fd_.get(), KVM_RUN, 0);
  run_->immediate_exit = 0;
  io_pending_ = false;
  synced_valid_ = sync_regs_;
}

CpuState KvmVcpu::get_state() {
  CpuState s;
  // On its own thread, right after an exit, KVM already copied regs, sregs and events out.
  bool own = tid_.load() == pthread_self() && synced_valid_;
  save_cpu(fd_.get(), index_, msrs_, s, own ? &run_->s.regs : nullptr);
  return s;
}

void KvmVcpu::set_state(const CpuState& s) {
  load_cpu(fd_.get(), s, msrs_, tr_form_);
  synced_valid_ = false;
}

platform::LapicState KvmVcpu::get_lapic() {
  platform::LapicState s;
  save_lapic(fd_.get(), s);
  return s;
}

void KvmVcpu::set_lapic(const platform::LapicState& s) { load_lapic(fd_.get(), s); }

}  // namespace hsls::accel::kvm
