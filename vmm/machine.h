// The virtual machine: KVM VM, guest memory on the NVM region, in-kernel
// irqchip and PIT, devices on two buses, and the vCPUs. It owns the
// stop-the-world protocol (pause parks every vCPU out of KVM_RUN) and the
// machine's life cycle (running, paused, stopped with an exit code).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nvm/region.h"
#include "vmm/core/config.h"
#include "vmm/core/guest_memory.h"
#include "vmm/devices/bus.h"
#include "vmm/devices/poweroff.h"
#include "vmm/devices/serial.h"
#include "vmm/kvm/kvm.h"
#include "vmm/kvm/vcpu.h"

namespace hsls {

// Why the machine stopped, and what vmm exits with.
enum class StopReason { none, poweroff, quit, crash, signal, reset };

// Exit status of vmm when the VM stops on an unexpected exit (EX_SOFTWARE).
inline constexpr int kExitCrash = 70;

class Machine {
 public:
  // Builds the whole machine from a validated config; throws Error with one
  // line if anything is refused. Nothing is left behind on failure.
  explicit Machine(const Config& cfg);
  ~Machine();

  // Starts the vCPU threads.
  void start();
  // Blocks until the machine stopped and every vCPU thread ended; returns
  // vmm's exit status.
  int wait();
  // Asks the machine to stop (any thread). The first request wins.
  void request_stop(StopReason reason, int exit_code, const std::string& detail);
  bool stopped() const { return stop_requested_.load(); }

  // Stop-the-world: returns once every vCPU is parked outside KVM_RUN.
  // Nests; each pause() needs one resume().
  void pause();
  void resume();
  bool paused() const;
  // The operator's pause (monitor `pause`/`resume`): idempotent, one level.
  void user_pause();
  void user_resume();

  // Runs `fn` with every vCPU parked, then lets them go again.
  template <typename Fn>
  auto with_vcpus_parked(Fn&& fn) {
    pause();
    struct Resume {
      Machine* m;
      ~Resume() { m->resume(); }
    } guard{this};
    return fn();
  }

  // Subscribes to machine events (JSON objects with an "event" key).
  void on_event(std::function<void(const nlohmann::json&)> fn);

  const Config& config() const { return cfg_; }
  GuestMemory& memory() { return *memory_; }
  Serial& serial() { return *serial_; }
  unsigned vcpu_count() const { return unsigned(vcpus_.size()); }
  Vcpu& vcpu(unsigned i) { return *vcpus_.at(i); }
  Bus& pio_bus() { return pio_; }
  Bus& mmio_bus() { return mmio_; }
  double uptime_seconds() const;
  std::string stop_detail() const;

  // --- called by vCPU threads ---
  // Parks the vCPU while the machine is paused; false once it must stop.
  bool vcpu_checkpoint(Vcpu& vcpu);
  // The vCPU hit something unexpected: report it and stop the machine.
  void vcpu_failed(Vcpu& vcpu, const std::string& reason);
  // The vCPU thread is about to end.
  void vcpu_exited(Vcpu& vcpu);
  // KVM_EXIT_SYSTEM_EVENT (shutdown/reset) from the guest.
  void guest_system_event(uint32_t type);

 private:
  class SerialIrq;
  void emit(const nlohmann::json& event);
  void kick_all();

  Config cfg_;
  std::unique_ptr<Kvm> kvm_;
  std::unique_ptr<nvm::Region> region_;
  std::unique_ptr<GuestMemory> memory_;
  std::unique_ptr<Vm> vm_;
  Bus pio_, mmio_;
  std::unique_ptr<SerialIrq> serial_irq_;
  std::unique_ptr<Serial> serial_;
  std::unique_ptr<PowerOff> poweroff_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> pause_requested_{false};
  unsigned pause_depth_ = 0;
  std::mutex user_pause_mu_;
  bool user_paused_ = false;
  unsigned parked_ = 0;   // vCPUs parked or ended
  unsigned running_ = 0;  // vCPU threads alive
  std::atomic<bool> stop_requested_{false};
  StopReason stop_reason_ = StopReason::none;
  int exit_code_ = 0;
  std::string stop_detail_;
  std::chrono::steady_clock::time_point started_at_;
  std::mutex events_mu_;
  std::vector<std::function<void(const nlohmann::json&)>> event_fns_;
};

}  // namespace hsls
