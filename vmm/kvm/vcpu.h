// One virtual CPU: its KVM fd, the shared kvm_run page and its thread.
// The run loop is short: run, dispatch the exit, park when asked to.
#pragma once
#include "vmm/kvm/kvm_api.h"
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <mutex>
#include <thread>

#include "vmm/kvm/kvm.h"

namespace hsls {

class Machine;

class Vcpu {
 public:
  Vcpu(Machine& machine, const Kvm& kvm, const Vm& vm, unsigned index);
  ~Vcpu();
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  unsigned index() const { return index_; }
  int fd() const { return fd_.get(); }

  // Puts the vCPU in the PVH entry state: 32-bit flat protected mode, paging
  // off, at `entry`, with EBX = `start_info`.
  void set_pvh_entry(uint32_t entry, uint32_t start_info);

  // The host CPU its thread is to run on (before start(); -1: anywhere).
  void set_host_cpu(int cpu) { host_cpu_ = cpu; }
  // Starts / joins the thread that runs the guest.
  void start();
  void join();
  // Forces the thread out of KVM_RUN (immediate_exit + signal).
  void kick();

  // Lets KVM finish an I/O instruction whose exit was just handled (an IN's
  // data still has to reach RAX): without this a checkpoint taken now would
  // lose it. Call on the vCPU's own thread before saving its state.
  void complete_pending_io();
  // Registers KVM copied into the run area at the last exit (KVM_CAP_SYNC_REGS),
  // or null if this host does not offer them. Valid until the next vCPU ioctl.
  const kvm_sync_regs* synced_regs() const { return sync_regs_ ? &run_->s.regs : nullptr; }

  // Register access; only while the vCPU is parked or not started.
  kvm_regs regs() const;
  kvm_sregs sregs() const;
  kvm_mp_state mp_state() const;

 private:
  void thread_main();
  // Handles one exit; returns false if the VM must stop.
  bool dispatch_exit();
  bool handle_io();
  bool handle_mmio();
  void fail(const std::string& reason);
  void setup_cpuid(const Kvm& kvm);

  Machine& machine_;
  unsigned index_;
  int host_cpu_ = -1;
  Fd fd_;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  std::thread thread_;
  std::atomic<pthread_t> tid_{};
  bool io_pending_ = false;
  bool sync_regs_ = false;
  std::mutex alive_mu_;   // kick() never signals a thread that has ended
  bool alive_ = false;
};

// The signal that kicks a vCPU thread out of KVM_RUN (also the epoch timer's).
inline constexpr int kKickSignal = SIGUSR1;

// Installs the handler of the kick signal: it sets immediate_exit on the
// receiving vCPU thread's run area, so a kick never gets lost.
void install_kick_signal();

}  // namespace hsls
