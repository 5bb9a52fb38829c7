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
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckpt/checkpointer.h"
#include "ckpt/recovery.h"
#include "nvm/store.h"
#include "vmm/core/config.h"
#include "vmm/boot/elf_loader.h"
#include "vmm/core/guest_memory.h"
#include "vmm/devices/bus.h"
#include "vmm/devices/dma.h"
#include "vmm/devices/virtio/net.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/kvm/eventfd.h"
#include "vmm/devices/poweroff.h"
#include "vmm/devices/serial.h"
#include "vmm/kvm/kvm.h"
#include "vmm/kvm/vcpu.h"

namespace hsls {

// Why the machine stopped, and what vmm exits with.
enum class StopReason { none, poweroff, quit, crash, signal, reset, powerfail };

// Exit status of vmm when the VM stops on an unexpected exit (EX_SOFTWARE).
inline constexpr int kExitCrash = 70;
// Exit status of vmm after a power failure it did not power back on from.
inline constexpr int kExitPowerFail = 99;

// A power failure armed at a crash point, to apply to the next machine built.
struct PendingCrash {
  nvm::CrashPoint point;
  uint64_t nth;
};

// Monotonic time at which this vmm process started (recovery reports the
// time from there to the guest being ready to run again).
uint64_t process_start_ns();

// A power failure to aim at the next machine's recovery (set by the
// monitor, taken when the power comes back on).
void set_pending_crash(PendingCrash crash);
std::optional<PendingCrash> take_pending_crash();

class Machine {
 public:
  // Builds the whole machine from a validated config; throws Error with one
  // line if anything is refused. Nothing is left behind on failure.
  // If the NVM file holds a committed checkpoint, the machine is recovered
  // from it instead of booting the image. `crash` arms a power failure
  // before recovery runs (tests aim one at the recovery itself).
  explicit Machine(const Config& cfg, std::optional<PendingCrash> crash = std::nullopt);
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

  // Power failure now: every later NVM write is dropped, the vCPUs stop, and
  // the machine stops with StopReason::powerfail. `restart`: power back on.
  void power_fail(const std::string& why, bool restart);
  // Fails power when the checkpoint protocol reaches `point` for the nth time.
  void arm_power_fail(nvm::CrashPoint point, uint64_t nth, bool restart);
  // Fails power after `ms` milliseconds.
  void power_fail_after(double ms, bool restart);
  bool power_failed() const { return power_failed_.load(); }
  bool restart_after_power_fail() const { return restart_.load(); }

  // The checkpoint manager (null when checkpoints are off).
  ckpt::Checkpointer* checkpointer() { return ckpt_.get(); }
  nvm::Store& store() { return *store_; }
  // What recovery did when this machine came up (null JSON on a fresh boot).
  const nlohmann::json& recovery() const { return recovery_; }
  int kvm_fd() const { return kvm_->fd(); }
  int kvm_check(long cap) const { return kvm_->check(cap); }
  int vm_fd() const { return vm_->fd(); }

  // The virtio-net device (null without net.tap).
  virtio::VirtioNet* net() { return net_.get(); }

  // --- checkpoint hooks for the devices the VMM runs threads for ---
  // Holds every device still (no guest-memory or state change) while the lock lives.
  std::unique_lock<std::mutex> quiesce_devices();
  // Appends the devices' variable-size state (quiesced).
  void save_devices(std::vector<uint8_t>& out);
  // Appends the RAM pages devices wrote since the last call (quiesced).
  void collect_device_dirty(std::vector<uint64_t>& out);
  // Checkpoint `version` committed (quiesced).
  void devices_committed(uint64_t version);

  // Sends an event to the subscribers (any thread).
  void emit(const nlohmann::json& event);
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
  // The vCPU thread begins (before its first KVM_RUN).
  void vcpu_started(Vcpu& vcpu);
  // The vCPU thread is about to end.
  void vcpu_exited(Vcpu& vcpu);
  // KVM_EXIT_DIRTY_RING_FULL: harvest the rings so the vCPU can go on.
  void dirty_ring_full();
  // KVM_EXIT_SYSTEM_EVENT (shutdown/reset) from the guest.
  void guest_system_event(uint32_t type);

 private:
  class SerialIrq;
  void boot_image(const boot::LoadPlan& plan, const std::vector<uint8_t>& image, const std::string& cmdline);
  void load_state(const ckpt::Recovered& r);
  void add_net(std::unique_ptr<net::Tap> tap, uint64_t epoch);
  void on_crash_point(nvm::CrashPoint p, bool restart);
  void kick_all();

  Config cfg_;
  std::unique_ptr<Kvm> kvm_;
  std::unique_ptr<nvm::Store> store_;
  std::unique_ptr<ckpt::DigestOracle> oracle_;
  std::unique_ptr<ckpt::Checkpointer> ckpt_;
  nlohmann::json recovery_;
  std::atomic<bool> power_failed_{false};
  std::atomic<bool> restart_{false};
  std::thread power_timer_;
  std::mutex power_timer_mu_;
  std::condition_variable power_timer_cv_;
  std::unique_ptr<GuestMemory> memory_;
  std::unique_ptr<Vm> vm_;
  Bus pio_, mmio_;
  std::unique_ptr<SerialIrq> serial_irq_;
  std::unique_ptr<Serial> serial_;
  std::unique_ptr<PowerOff> poweroff_;
  DeviceDirtyLog device_dirty_;
  std::unique_ptr<Dma> dma_;
  std::unique_ptr<Irqfd> net_irq_;
  std::unique_ptr<virtio::VirtioNet> net_;
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
