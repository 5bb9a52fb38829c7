#include "vmm/machine.h"

#include "vmm/boot/elf_loader.h"
#include "vmm/boot/pvh.h"
#include "vmm/core/error.h"
#include "vmm/core/log.h"
#include "vmm/debug/inspect.h"

namespace hsls {

// Routes the UART's interrupt to its GSI on the in-kernel irqchip.
class Machine::SerialIrq : public IrqLine {
 public:
  SerialIrq(Vm& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}
  void set_level(bool high) override {
    if (high != level_) {
      level_ = high;
      vm_.set_irq_line(gsi_, high);
    }
  }

 private:
  Vm& vm_;
  uint32_t gsi_;
  bool level_ = false;
};

Machine::Machine(const Config& cfg) : cfg_(cfg) {
  auto log = log::get("vmm");
  // Everything that can be refused without side effects comes first.
  kvm_ = std::make_unique<Kvm>();
  auto image = boot::read_image_file(cfg.image);
  auto plan = boot::plan_load(image, layout_ram(cfg.memory_bytes), cfg.image);
  std::string cmdline = boot::guest_cmdline(cfg.cmdline, cfg.vcpus);
  if (cmdline.size() > boot::kCmdlineMax) throw Error("guest.cmdline: too long for the boot area");

  vm_ = std::make_unique<Vm>(*kvm_);
  vm_->create_irqchip_and_pit();
  for (unsigned i = 0; i < cfg.vcpus; ++i) vcpus_.push_back(std::make_unique<Vcpu>(*this, *kvm_, *vm_, i));

  // From here on a file may be created; Region removes it unless keep() is reached.
  region_ = std::make_unique<nvm::Region>(cfg.nvm_path, cfg.memory_bytes, 
                                          cfg.fresh ? nvm::Region::Mode::discard : nvm::Region::Mode::keep);
  memory_ = std::make_unique<GuestMemory>(region_->base(), cfg.memory_bytes);
  uint32_t slot = 0;
  for (const auto& r : memory_->ranges()) vm_->set_memory(slot++, r.gpa, r.size, region_->base() + r.host_offset);

  serial_irq_ = std::make_unique<SerialIrq>(*vm_, Serial::kIrq);
  serial_ = std::make_unique<Serial>(*serial_irq_, cfg.serial_console, cfg.serial_log);
  poweroff_ = std::make_unique<PowerOff>(
      [this](int code) { request_stop(StopReason::poweroff, code, "guest powered off with code " + std::to_string(code)); });
  pio_.add(Serial::kBase, Serial::kSize, serial_.get());
  pio_.add(PowerOff::kPort, PowerOff::kSize, poweroff_.get());

  boot::apply_load(plan, image, *memory_);
  boot::write_boot_info(*memory_, cmdline);
  vcpus_[0]->set_pvh_entry(plan.pvh_entry, uint32_t(boot::kStartInfoAddr));
  region_->keep();
  install_kick_signal();
  log->info("machine ready: {} vCPU(s), {} RAM, image {} (PVH entry {:#x}), cmdline \"{}\"", cfg.vcpus,
            format_size(cfg.memory_bytes), cfg.image, plan.pvh_entry, cmdline);
}

Machine::~Machine() {
  stop_requested_ = true;
  cv_.notify_all();
  kick_all();
  for (auto& v : vcpus_) v->join();
}

void Machine::start() {
  started_at_ = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    running_ = unsigned(vcpus_.size());
  }
  for (auto& v : vcpus_) v->start();
  emit({{"event", "started"}, {"vcpus", vcpus_.size()}});
}

int Machine::wait() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return running_ == 0; });
  }
  for (auto& v : vcpus_) v->join();
  serial_->flush();
  std::lock_guard lock(mu_);
  return exit_code_;
}

void Machine::request_stop(StopReason reason, int exit_code, const std::string& detail) {
  {
    std::lock_guard lock(mu_);
    if (stop_reason_ != StopReason::none) return;
    stop_reason_ = reason;
    exit_code_ = exit_code;
    stop_detail_ = detail;
    stop_requested_ = true;
  }
  cv_.notify_all();
  kick_all();
  if (reason != StopReason::crash) log::get("vmm")->info("stopping: {}", detail);
  emit({{"event", "stopped"}, {"reason", detail}, {"exit_code", exit_code}});
}

void Machine::pause() {
  std::unique_lock lock(mu_);
  if (pause_depth_++ == 0) {
    pause_requested_ = true;
    lock.unlock();
    kick_all();
    lock.lock();
  }
  cv_.wait(lock, [&] { return parked_ == vcpus_.size() || running_ == 0; });
}

void Machine::resume() {
  std::unique_lock lock(mu_);
  if (pause_depth_ == 0) return;
  if (--pause_depth_ == 0) {
    pause_requested_ = false;
    cv_.notify_all();
  }
}

bool Machine::paused() const {
  std::lock_guard lock(mu_);
  return pause_depth_ > 0;
}

void Machine::user_pause() {
  std::lock_guard lock(user_pause_mu_);
  if (user_paused_) return;
  pause();
  user_paused_ = true;
  emit({{"event", "paused"}});
}

void Machine::user_resume() {
  std::lock_guard lock(user_pause_mu_);
  if (!user_paused_) return;
  resume();
  user_paused_ = false;
  emit({{"event", "resumed"}});
}

void Machine::kick_all() {
  for (auto& v : vcpus_) v->kick();
}

bool Machine::vcpu_checkpoint(Vcpu&) {
  if (stop_requested_) return false;
  if (!pause_requested_) return true;
  std::unique_lock lock(mu_);
  ++parked_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return !pause_requested_ || stop_requested_; });
  --parked_;
  return !stop_requested_;
}

void Machine::vcpu_failed(Vcpu& vcpu, const std::string& reason) {
  std::string report;
  try {
    report = debug::crash_report(reason, vcpu.index(), vcpu.regs(), vcpu.sregs(), *memory_);
  } catch (const Error& e) {
    report = "VM stopped: " + reason + " on vCPU " + std::to_string(vcpu.index()) + " (registers unavailable: " +
             e.what() + ")\n";
  }
  log::get("vcpu")->error("{}", report);
  emit({{"event", "crash"}, {"vcpu", vcpu.index()}, {"reason", reason}, {"report", report}});
  request_stop(StopReason::crash, kExitCrash, reason);
}

void Machine::vcpu_exited(Vcpu&) {
  {
    std::lock_guard lock(mu_);
    --running_;
  }
  cv_.notify_all();
}

void Machine::guest_system_event(uint32_t type) {
  if (type == KVM_SYSTEM_EVENT_RESET) request_stop(StopReason::reset, 0, "guest requested a reset");
  else request_stop(StopReason::poweroff, 0, "guest shut down (system event " + std::to_string(type) + ")");
}

void Machine::on_event(std::function<void(const nlohmann::json&)> fn) {
  std::lock_guard lock(events_mu_);
  event_fns_.push_back(std::move(fn));
}

void Machine::emit(const nlohmann::json& event) {
  std::lock_guard lock(events_mu_);
  for (auto& fn : event_fns_) fn(event);
}

double Machine::uptime_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
}

std::string Machine::stop_detail() const {
  std::lock_guard lock(mu_);
  return stop_detail_;
}

}  // namespace hsls
