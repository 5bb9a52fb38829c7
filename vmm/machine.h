// The virtual machine: a VM on an accelerator (vmm/accel: kvm or tcg),
// guest memory on the NVM region, devices on two buses, and the vCPU
// threads. It owns the stop-the-world protocol (pause parks every vCPU out
// of the guest) and the machine's life cycle (running, paused, stopped with
// an exit code). It is the top layer: nothing below includes it.
// machine.cpp: building, booting or restoring, running and stopping;
// machine_pause.cpp: checkpoint leads and pauses; machine_power.cpp: power
// failures and the user's recorded inputs.
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
#include "ckpt/machine_view.h"
#include "ckpt/recovery.h"
#include "nvm/store.h"
#include "vmm/accel/accel.h"
#include "vmm/boot/elf_loader.h"
#include "vmm/core/config.h"
#include "vmm/core/guest_memory.h"
#include "vmm/core/ram_prefault.h"
#include "vmm/devices/bus.h"
#include "vmm/devices/dma.h"
#include "vmm/devices/guest_clock.h"
#include "vmm/input_log.h"
#include "vmm/devices/poweroff.h"
#include "vmm/devices/serial.h"
#include "vmm/devices/virtio/net.h"
#include "vmm/net/kv_peer.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/vcpu_runner.h"

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

// The built-in network peer (net.peer = "kv") for this config: kvd at the
// guest's MAC, drawing from the machine's seed.
net::KvPeer::Options kv_peer_options(const Config& cfg);

class Machine : public ckpt::MachineView, public accel::IoHandler {
 public:
  // Builds the whole machine from a validated config; throws Error with one
  // line if anything is refused. Nothing is left behind on failure.
  // If the NVM file holds a committed checkpoint, the machine is recovered
  // from it instead of booting the image. `crash` arms a power failure
  // before recovery runs (tests aim one at the recovery itself). `link`:
  // the far end of the network cable when the caller keeps one across
  // machines (the crash explorer's peer); else net.tap or net.peer makes it.
  explicit Machine(const Config& cfg, std::optional<PendingCrash> crash = std::nullopt,
                   std::shared_ptr<net::Link> link = nullptr);
  ~Machine() override;

  // Starts the vCPU threads.
  void start();
  // Blocks until the machine stopped and every vCPU thread ended; returns
  // vmm's exit status.
  int wait();
  // Asks the machine to stop (any thread). The first request wins.
  void request_stop(StopReason reason, int exit_code, const std::string& detail);
  bool stopped() const override { return stop_requested_.load(); }
  void fail(const std::string& why) override { request_stop(StopReason::crash, kExitCrash, why); }

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
  // Deterministic machine: power fails once `block` blocks have executed.
  void power_fail_at_block(uint64_t block, bool restart);
  // Deterministic machine: power fails at the next point of the schedule
  // (logged with its block count, to replay it with at-block=).
  void power_fail_external(bool restart);
  // Deterministic machine: quits (exit 0) once `block` blocks have executed.
  void stop_at_block(uint64_t block);
  // Input for the guest's UART; on a deterministic machine it arrives at
  // the next point of the schedule (logged with its block count). Returns
  // the bytes queued.
  size_t type_serial(const std::string& bytes);
  // Deterministic machine: schedules the entries of an input log recorded
  // for this power-on (the process's machines are counted from 0).
  void replay_inputs(const std::vector<InputLog::Entry>& entries);
  bool power_failed() const { return power_failed_.load(); }
  bool restart_after_power_fail() const { return restart_.load(); }

  // The checkpoint manager (null when checkpoints are off).
  ckpt::Checkpointer* checkpointer() { return ckpt_.get(); }
  nvm::Store& store() { return *store_; }
  // What recovery did when this machine came up (null JSON on a fresh boot).
  const nlohmann::json& recovery() const { return recovery_; }
  // The accelerator the machine runs on ("kvm" or "tcg").
  std::string accel_name() const { return vm_->name(); }

  // The virtio-net device (null without net.tap or net.peer).
  virtio::VirtioNet* net() { return net_.get(); }

  // --- checkpoint hooks for the devices the VMM runs threads for ---
  // (ckpt::MachineView)
  accel::Vm& vm() override { return *vm_; }
  std::unique_lock<std::mutex> quiesce_devices() override;
  SerialState serial_state() override { return serial_->save(); }
  void save_devices(std::vector<uint8_t>& out) override;
  void collect_device_dirty(std::vector<uint64_t>& out) override;
  void devices_committed(uint64_t version) override;
  void devices_resumed() override;

  // --- the buses (accel::IoHandler): false if nothing owns the address ---
  bool pio(uint16_t port, uint8_t* data, unsigned size, bool write) override;
  bool mmio(uint64_t addr, uint8_t* data, unsigned size, bool write) override;

  // Sends an event to the subscribers (any thread).
  void emit(const nlohmann::json& event);
  // Subscribes to machine events (JSON objects with an "event" key).
  void on_event(std::function<void(const nlohmann::json&)> fn);

  const Config& config() const { return cfg_; }
  GuestMemory& memory() override { return *memory_; }
  Serial& serial() { return *serial_; }
  unsigned vcpu_count() const override { return unsigned(vcpus_.size()); }
  accel::Vcpu& vcpu(unsigned i) override { return vcpus_.at(i)->vcpu(); }
  double uptime_seconds() const;

  // --- called by vCPU threads ---
  // Parks the vCPU while the machine is paused; false once it must stop.
  bool vcpu_checkpoint(VcpuRunner& vcpu);
  // The vCPU hit something unexpected in the guest: report it (registers,
  // code around rip) and stop the machine.
  void vcpu_failed(VcpuRunner& vcpu, const std::string& reason);
  // The VMM failed on a vCPU thread (an exception): stop with one line.
  void vcpu_error(VcpuRunner& vcpu, const std::string& what);
  // The vCPU thread begins (before its first run).
  void vcpu_started(VcpuRunner& vcpu);
  // The vCPU thread is about to end.
  void vcpu_exited(VcpuRunner& vcpu);
  // The dirty log is full: harvest it so the vCPU can go on.
  void dirty_log_full();
  // The guest asked for a reset or shut the machine down.
  void guest_system_event(bool reset);

 private:
  class SerialIrq;
  void create_vm_and_vcpus(uint64_t t_start);
  void set_pvh_entry(accel::Vcpu& vcpu, uint32_t entry, uint32_t start_info);
  void boot_image(const boot::LoadPlan& plan, std::span<const uint8_t> image, const std::string& cmdline);
  void start_checkpointer(const std::optional<ckpt::Recovered>& recovered);
  void load_state(const ckpt::Recovered& r);
  void add_net(std::shared_ptr<net::Link> link, uint64_t epoch);
  void on_crash_point(nvm::CrashPoint p, bool restart);
  void kick_all();

  Config cfg_;
  std::unique_ptr<accel::Vm> vm_;
  std::unique_ptr<nvm::Store> store_;
  std::unique_ptr<GuestMemory> memory_;  // outlives the checkpointer, whose write guard it holds
  std::unique_ptr<RamPrefault> prefault_;  // stops before the RAM mapping goes
  std::unique_ptr<ckpt::DigestOracle> oracle_;
  std::unique_ptr<ckpt::Checkpointer> ckpt_;
  nlohmann::json recovery_;
  std::atomic<bool> power_failed_{false};
  std::atomic<bool> restart_{false};
  std::thread power_timer_;
  std::mutex power_timer_mu_;
  std::condition_variable power_timer_cv_;
  Bus pio_, mmio_;
  std::unique_ptr<SerialIrq> serial_irq_;
  std::unique_ptr<Serial> serial_;
  std::unique_ptr<PowerOff> poweroff_;
  std::unique_ptr<GuestClock> clock_;
  std::unique_ptr<InputLog> input_log_;  // --record-input
  unsigned power_on_ = 0;
  void record_input(const std::string& kind, const std::string& data);
  DeviceDirtyLog device_dirty_;
  std::unique_ptr<Dma> dma_;
  std::unique_ptr<IrqEdge> net_irq_;
  std::unique_ptr<virtio::VirtioNet> net_;
  std::vector<std::unique_ptr<VcpuRunner>> vcpus_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> pause_requested_{false};
  bool leading_ = false;  // a vCPU leads a checkpoint (under mu_)
  unsigned lead_waiters_ = 0;  // pause() calls waiting for leading_ to clear (under mu_)
  bool begin_lead();
  void end_lead();
  unsigned pause_depth_ = 0;
  std::mutex user_pause_mu_;
  bool user_paused_ = false;
  unsigned parked_ = 0;   // vCPUs parked or ended
  unsigned running_ = 0;  // vCPU threads alive
  std::atomic<bool> stop_requested_{false};
  StopReason stop_reason_ = StopReason::none;
  int exit_code_ = 0;
  std::chrono::steady_clock::time_point started_at_;
  std::mutex events_mu_;
  std::vector<std::function<void(const nlohmann::json&)>> event_fns_;
};

}  // namespace hsls
