// The thread of one vCPU (kvmtool style): the run loop is short — park if
// the machine asks, run the guest, dispatch the exit. Backend-neutral: the
// vCPU itself is an accel::Vcpu.
#pragma once
#include <memory>
#include <thread>

#include "vmm/accel/accel.h"

namespace hsls {

class Machine;

class VcpuRunner {
 public:
  VcpuRunner(Machine& machine, std::unique_ptr<accel::Vcpu> vcpu);
  ~VcpuRunner();
  VcpuRunner(const VcpuRunner&) = delete;
  VcpuRunner& operator=(const VcpuRunner&) = delete;

  unsigned index() const { return vcpu_->index(); }
  accel::Vcpu& vcpu() { return *vcpu_; }

  // The host CPU its thread is to run on (before start(); -1: anywhere).
  void set_host_cpu(int cpu) { host_cpu_ = cpu; }
  // Starts / joins the thread that runs the guest.
  void start();
  void join();

 private:
  void thread_main();
  // Handles one exit; returns false if the VM must stop.
  bool dispatch(const accel::Exit& e);

  Machine& machine_;
  std::unique_ptr<accel::Vcpu> vcpu_;
  int host_cpu_ = -1;
  std::thread thread_;
};

}  // namespace hsls
