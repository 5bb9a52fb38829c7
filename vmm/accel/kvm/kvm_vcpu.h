// A KVM vCPU: its fd and the shared kvm_run page. run() is one KVM_RUN
// and the translation of its exit; I/O exits go back to the machine.
#pragma once
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "vmm/accel/accel.h"
#include "vmm/accel/kvm/kvm.h"
#include "vmm/accel/kvm/kvm_state.h"

namespace hsls::accel::kvm {

class KvmVcpu : public Vcpu {
 public:
  KvmVcpu(const Kvm& kvm, const KvmVmFd& vm, unsigned index, const std::vector<uint32_t>& msrs);
  ~KvmVcpu() override;

  unsigned index() const override { return index_; }
  int fd() const { return fd_.get(); }
  void thread_started() override;
  Exit run() override;
  void kick() override;
  void kicked_by_signal() override { run_->immediate_exit = 1; }
  void complete_pending_io() override;
  CpuState get_state() override;
  void set_state(const CpuState& s) override;
  platform::LapicState get_lapic() override;
  void set_lapic(const platform::LapicState& s) override;
  void thread_ended() override;  // kick() must not signal it any more

 private:
  Exit exit_from_run();
  void setup_cpuid(const Kvm& kvm);

  unsigned index_;
  const std::vector<uint32_t>& msrs_;
  TrForm tr_form_;
  Fd fd_;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  bool io_pending_ = false;
  bool sync_regs_ = false;
  bool synced_valid_ = false;  // the run area holds the registers of the last exit
  std::atomic<pthread_t> tid_{};
  std::mutex alive_mu_;  // kick() never signals a thread that has ended
  bool alive_ = false;
};

}  // namespace hsls::accel::kvm
