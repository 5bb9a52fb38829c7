#include "vmm/machine.h"

#include "vmm/boot/elf_loader.h"
#include "vmm/core/cpu_placement.h"
#include "vmm/boot/pvh.h"
#include "vmm/core/error.h"
#include "vmm/core/log.h"
#include "vmm/accel/kick.h"
#include "vmm/debug/inspect.h"
#include "vmm/net/tap.h"

#include <sys/resource.h>
#include <time.h>

#include <cstring>

namespace hsls {

namespace {
// The process's CPU time so far: at static initialisation, what exec, the
// dynamic loader and the libraries' constructors took (one thread then, so
// on an idle host their wall time too; a clock started at exec has no API).
uint64_t process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}
const uint64_t g_before_main_cpu_ns = process_cpu_ns();
const uint64_t g_process_start_ns = ckpt::now_ns();  // static initialisation: before main()
std::mutex g_pending_mu;
std::optional<PendingCrash> g_pending;
}  // namespace

uint64_t process_start_ns() { return g_process_start_ns; }

namespace {
std::atomic<bool> g_built_one{false};  // a machine was already built in this process
std::atomic<unsigned> g_power_ons{0};  // machines built in this process (the input log's power-on number)
}  // namespace

void set_pending_crash(PendingCrash crash) {
  std::lock_guard lock(g_pending_mu);
  g_pending = crash;
}

std::optional<PendingCrash> take_pending_crash() {
  std::lock_guard lock(g_pending_mu);
  auto out = g_pending;
  g_pending.reset();
  return out;
}

// Routes the UART's interrupt to its GSI on the VM's interrupt controller.
class Machine::SerialIrq : public IrqLine {
 public:
  SerialIrq(accel::Vm& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}
  void set_level(bool high) override {
    if (high != level_) {
      level_ = high;
      vm_.set_irq(gsi_, high);
    }
  }

 private:
  accel::Vm& vm_;
  uint32_t gsi_;
  bool level_ = false;
};

net::KvPeer::Options kv_peer_options(const Config& cfg) {
  net::KvPeer::Options o;
  o.seed = cfg.deterministic ? cfg.seed : 1;
  o.guest_mac = *parse_mac(cfg.net_mac);
  return o;
}

// Logs (debug) how far the start has come: the time since `t_start` and the
// process's page faults so far (each costs ~10-20 us on a PVM guest, and
// they dominate a cold start).
static void startup_stamp(uint64_t t_start, const char* what) {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  log::get("vmm")->debug("start-up: {} at {:.2f} ms ({} page faults since exec)", what,
                         double(ckpt::now_ns() - t_start) / 1e6, ru.ru_minflt + ru.ru_majflt);
}

Machine::Machine(const Config& cfg, std::optional<PendingCrash> crash, std::shared_ptr<net::Link> link) : cfg_(cfg) {
  auto log = log::get("vmm");
  uint64_t t_start = ckpt::now_ns();
  const bool first_in_process = !g_built_one.exchange(true);
  power_on_ = g_power_ons.fetch_add(1);
  auto stamp = [&](const char* what) { startup_stamp(t_start, what); };
  // Everything that can be refused without side effects comes first.
  std::string why;
  stamp("machine started");
  vm_ = accel::create_vm(accel::resolve(cfg.accel, cfg.deterministic, why), cfg.vcpus);
  if (cfg.deterministic) vm_->make_deterministic(cfg.seed, cfg.det_paced);
  if (cfg.deterministic && !cfg.record_input.empty()) input_log_ = std::make_unique<InputLog>(cfg.record_input);
  stamp("VM created");
  boot::ImageFile image(cfg.image);
  auto plan = boot::plan_load(image.bytes(), layout_ram(cfg.memory_bytes), cfg.image);
  std::string cmdline = boot::guest_cmdline(cfg.cmdline, cfg.vcpus);
  if (!link && !cfg.net_tap.empty()) link = std::make_shared<net::Tap>(cfg.net_tap);
  if (!link && cfg.net_peer == "kv") link = std::make_shared<net::KvPeer>(kv_peer_options(cfg));
  if (link) cmdline += " " + virtio::VirtioNet::cmdline_entry();
  if (cmdline.size() > boot::kCmdlineMax) throw Error("guest.cmdline: too long for the boot area");
  stamp("image checked");

  // From here on a file may be created; Region removes it unless keep() is reached.
  store_ = std::make_unique<nvm::Store>(cfg.nvm_path, cfg.memory_bytes, cfg.vcpus, cfg.fresh, cfg.persistence == "adr");
  if (cfg.unfenced_seed && cfg.persistence == "adr") store_->persist().track_unfenced(*cfg.unfenced_seed);
  if (crash) arm_power_fail(crash->point, crash->nth, true);
  memory_ = std::make_unique<GuestMemory>(store_->ram(), cfg.memory_bytes);
  stamp("NVM mapped");
  create_vm_and_vcpus(t_start);

  serial_irq_ = std::make_unique<SerialIrq>(*vm_, Serial::kIrq);
  serial_ = std::make_unique<Serial>(*serial_irq_, cfg.serial_console, cfg.serial_log);
  poweroff_ = std::make_unique<PowerOff>(
      [this](int code) { request_stop(StopReason::poweroff, code, "guest powered off with code " + std::to_string(code)); });
  pio_.add(Serial::kBase, Serial::kSize, serial_.get());
  pio_.add(PowerOff::kPort, PowerOff::kSize, poweroff_.get());
  clock_ = std::make_unique<GuestClock>([this] { return vm_->guest_time_ns(); });
  pio_.add(GuestClock::kPort, GuestClock::kSize, clock_.get());
  dma_ = std::make_unique<Dma>(*memory_, device_dirty_);
  stamp("devices created");

  std::optional<ckpt::Recovered> recovered;
  if (!store_->formatted()) recovered = ckpt::recover(*store_, cfg.vcpus);
  stamp("memory recovered");
  if (link) add_net(std::move(link), (recovered ? recovered->version : store_->journal().committed()) + 1);
  if (cfg.verify) oracle_ = std::make_unique<ckpt::DigestOracle>(cfg.nvm_path, store_->ram(), store_->layout().pages);
  if (recovered) {
    load_state(*recovered);
    uint64_t restore_ns = ckpt::now_ns() - t_start;
    auto wall = std::chrono::system_clock::now().time_since_epoch();
    double age_ms = (double(std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count()) - double(recovered->record.unix_ns)) / 1e6;
    recovery_ = {{"event", "recovered"},
                 {"version", recovered->version},
                 {"age_ms", age_ms},
                 {"pages_restored", recovered->pages_restored},
                 {"restore_ms", double(restore_ns) / 1e6}};
    if (oracle_) {
      std::string bad = oracle_->verify(recovered->version, recovered->state_digest);
      if (!bad.empty()) throw Error("verify: recovery of checkpoint " + std::to_string(recovered->version) + " is wrong: " + bad);
      recovery_["verified"] = true;
    }
  } else {
    if (!store_->formatted()) store_->clear_for_boot();  // a used file whose first checkpoint never committed
    boot_image(plan, image.bytes(), cmdline);
  }
  stamp("state loaded");
  start_checkpointer(recovered);
  accel::install_kick_signal();
  store_->keep();
  stamp("checkpointer ready");
  // After the start is measured and accepted; never on a deterministic
  // machine (the crash explorer builds hundreds of short ones).
  if (cfg.prefault && !cfg.deterministic) prefault_ = std::make_unique<RamPrefault>(store_->ram(), cfg.memory_bytes);
  log->info("accelerator: {} ({})", vm_->name(), why);  // once the start is accepted: a refusal stays one line
  if (recovered) {
    // Said once the machine is ready to run (the vCPU threads start next). In a
    // fresh process (cold start after SIGKILL or exit), the whole way from exec.
    double since_start_ms = double(ckpt::now_ns() - process_start_ns()) / 1e6;
    double since_began_ms = since_start_ms + double(g_before_main_cpu_ns) / 1e6;
    if (first_in_process) {
      recovery_["since_process_start_ms"] = since_start_ms;
      recovery_["since_process_began_ms"] = since_began_ms;
    }
    log->info("resumed checkpoint {} taken {:.0f} ms ago: {} page(s) restored, state loaded in {:.2f} ms{}{}",
              recovered->version, recovery_["age_ms"].get<double>(), recovered->pages_restored,
              recovery_["restore_ms"].get<double>(),
              first_in_process ? fmt::format(" ({:.2f} ms since vmm started, {:.2f} ms since its process began)", since_start_ms, since_began_ms) : "",
              oracle_ ? ", digests verified" : "");
  }
}

// Guest RAM into the VM (with dirty tracking when checkpoints are on), then
// the interrupt controllers and the vCPUs, in the order the backends need.
void Machine::create_vm_and_vcpus(uint64_t t_start) {
  accel::DirtyLogRequest dirty;
  dirty.enabled = cfg_.ckpt_enabled;
  dirty.kind = cfg_.ckpt_dirty_log;
  dirty.want_untrack = cfg_.ckpt_hot_lease != 0;
  vm_->map_ram(*memory_, dirty);
  startup_stamp(t_start, "RAM mapped");
  vm_->create_platform();
  for (unsigned i = 0; i < cfg_.vcpus; ++i) {
    vcpus_.push_back(std::make_unique<VcpuRunner>(*this, vm_->create_vcpu(i, *this)));
    if (i < cfg_.vcpu_cpus.size()) vcpus_.back()->set_host_cpu(cfg_.vcpu_cpus[i]);
  }
  startup_stamp(t_start, "platform and vCPUs created");
}

// The checkpoint manager, if checkpoints are on, from the version in force.
void Machine::start_checkpointer(const std::optional<ckpt::Recovered>& recovered) {
  if (!cfg_.ckpt_enabled) return;
  ckpt::Settings s;
  s.interval_ms = cfg_.ckpt_interval_ms;
  s.tuning = {cfg_.ckpt_history, cfg_.ckpt_hot_threshold, cfg_.ckpt_neighbours, cfg_.ckpt_hot_lease};
  s.verify = cfg_.verify;
  s.commit_log = cfg_.commit_log;
  // The VMM's write guard wherever every guest store asks it first: no kernel fault per first write.
  bool guard_ok = vm_->stores_ask_write_guard();
  if (cfg_.ckpt_write_protect == "guard" && !guard_ok)
    throw Error("ckpt.write_protect = guard needs every guest store to pass the VMM: the software CPU with "
                "ckpt.dirty_log = tlb (this is " + vm_->name() + " with dirty log " + cfg_.ckpt_dirty_log + ")");
  s.write_guard = cfg_.ckpt_write_protect == "guard" || (cfg_.ckpt_write_protect == "auto" && guard_ok);
  // auto: copy-on-write where the write guard makes a first store cheap
  // (~1 us on the software CPU: pause p50 4-13 us against stop-and-copy's
  // 33-66 with ~73 dirty pages, the same overhead; docs/benchmarks.md,
  // session 20); stop-and-copy where it would cost a userfaultfd fault per
  // page (KVM: 35 % overhead at 10 ms).
  if (cfg_.ckpt_policy != "auto") {
    s.policy = *ckpt::policy_from_name(cfg_.ckpt_policy);
  } else {
    s.policy = s.write_guard ? ckpt::Policy::cow : ckpt::Policy::stop_and_copy;
    log::get("ckpt")->info("ckpt.policy auto: {} ({})", ckpt::policy_name(s.policy),
                           s.write_guard ? "first stores meet the VMM's write guard" : "copy-on-write would fault through userfaultfd");
  }
  // Only where it cannot spin on the vCPU's CPU; never on a deterministic
  // machine, whose pause does its work on one thread in a fixed order; nor
  // with the write guard: the copier overlaps copying with userfaultfd's
  // slow write-protect calls, and guarding is setting bits (with it the
  // pause copied ~100 pages in 98 us p50 against 52 us without, 10 ms, tcg).
  s.copier = cfg_.ckpt_copier && !cfg_.vcpu_cpus.empty() && !cfg_.deterministic && !s.write_guard;
  s.vcpus_share_cpu = CpuPlacement{cfg_.vcpu_cpus, {}}.vcpus_share_a_cpu();
  ckpt_ = std::make_unique<ckpt::Checkpointer>(*this, *store_, s, recovered ? recovered->version : store_->journal().committed(),
                                               recovered.has_value(), oracle_.get());
}

// The virtio-net device on its MMIO window, with the fastest interrupt and notification paths the VM has.
void Machine::add_net(std::shared_ptr<net::Link> link, uint64_t epoch) {
  virtio::NetConfig nc;
  nc.mac = *parse_mac(cfg_.net_mac);
  nc.external_sync = cfg_.net_external_sync && cfg_.ckpt_enabled;
  nc.max_held = cfg_.net_max_held;
  if (cfg_.net_external_sync && !cfg_.ckpt_enabled)
    log::get("net")->info("checkpoints are off: frames are sent at once (no external synchrony)");
  net_irq_ = vm_->irq_edge(virtio::VirtioNet::kGsi);
  std::string name = link->name();
  net_ = std::make_unique<virtio::VirtioNet>(nc, std::move(link), *dma_, *net_irq_, epoch);
  mmio_.add(virtio::VirtioNet::kMmioBase, virtio::VirtioMmio::kWindow, &net_->transport());
  uint64_t notify = virtio::VirtioNet::kMmioBase + virtio::kQueueNotify;
  bool fast = true;
  for (unsigned q = 0; q < net_->queue_count(); ++q)
    if (const EventFd* ev = net_->notify_event(q)) fast = vm_->bind_mmio_event(notify, q, ev->fd()) && fast;
  log::get("net")->info("virtio-net on {} at {:#x} (GSI {}), MAC {}, external synchrony {}{}", name,
                        virtio::VirtioNet::kMmioBase, virtio::VirtioNet::kGsi, cfg_.net_mac, nc.external_sync ? "on" : "off",
                        fast ? "" : " (queue notifications as MMIO accesses)");
}

std::unique_lock<std::mutex> Machine::quiesce_devices() {
  return net_ ? std::unique_lock<std::mutex>(net_->transport().mutex()) : std::unique_lock<std::mutex>();
}

void Machine::save_devices(std::vector<uint8_t>& out) {
  if (net_) net_->save(out);
}

void Machine::collect_device_dirty(std::vector<uint64_t>& out) { device_dirty_.collect(out); }

void Machine::devices_committed(uint64_t version) {
  if (net_) net_->committed(version);
}

void Machine::devices_resumed() {
  if (net_) net_->resumed();
}

// A fresh boot: the image and the boot information go into guest memory.
void Machine::boot_image(const boot::LoadPlan& plan, std::span<const uint8_t> image, const std::string& cmdline) {
  boot::apply_load(plan, image, *memory_);
  boot::write_boot_info(*memory_, cmdline);
  set_pvh_entry(vcpus_[0]->vcpu(), plan.pvh_entry, uint32_t(boot::kStartInfoAddr));
  log::get("vmm")->info("machine ready: {} vCPU(s), {} RAM, image {} (PVH entry {:#x}), cmdline \"{}\"", cfg_.vcpus,
                        format_size(cfg_.memory_bytes), cfg_.image, plan.pvh_entry, cmdline);
}

// The PVH entry state: 32-bit flat protected mode, paging off, at `entry`,
// with EBX = `start_info`. The rest of the state is the vCPU's reset state.
void Machine::set_pvh_entry(accel::Vcpu& vcpu, uint32_t entry, uint32_t start_info) {
  accel::CpuState s = vcpu.get_state();
  accel::Segment code;
  code.base = 0;
  code.limit = 0xffffffff;
  code.selector = 0x10;
  code.type = 0xb;  // execute/read, accessed
  code.present = 1;
  code.s = 1;
  code.db = 1;
  code.g = 1;
  accel::Segment data = code;
  data.type = 0x3;  // read/write, accessed
  data.selector = 0x18;
  s.cs = code;
  s.ds = s.es = s.fs = s.gs = s.ss = data;
  s.tr = accel::Segment{};
  s.tr.type = 0xb;  // busy 32-bit TSS, required for VM entry
  s.tr.present = 1;
  s.tr.limit = 0x67;
  s.cr0 = 0x11;  // PE | ET
  s.cr4 = 0;
  s.efer = 0;
  std::fill(std::begin(s.gpr), std::end(s.gpr), 0);
  s.gpr[accel::rbx] = start_info;
  s.rip = entry;
  s.rflags = 0x2;
  s.run_state = accel::RunState::running;
  vcpu.set_state(s);
}

// Loads a recovered checkpoint's volatile state into the VM and the devices.
void Machine::load_state(const ckpt::Recovered& r) {
  ckpt::StateLayout sl;
  unsigned n = unsigned(vcpus_.size());
  ckpt::MachineStateHeader h;
  std::memcpy(&h, r.state.data(), sizeof h);
  if (h.accel_name() != vm_->name())
    log::get("vmm")->info("checkpoint {} was taken under {}; resuming it under {}", r.version, h.accel_name(), vm_->name());
  for (unsigned i = 0; i < n; ++i) {
    ckpt::VcpuState vs;
    std::memcpy(&vs, r.state.data() + sl.vcpu(i), sizeof vs);
    if (vs.version != ckpt::VcpuState::kVersion || vs.cpu.index != i)
      throw Error("saved state of vCPU " + std::to_string(i) + " is out of place or of another version");
    auto& v = vcpus_[i]->vcpu();
    v.set_state(vs.cpu);
    v.set_lapic(vs.lapic);
    // What the vCPU now holds must be what was saved: lost registers would be a torn restore.
    auto now = v.get_state();
    std::string diff = ckpt::regs_difference(vs.cpu, now);
    if (!diff.empty())
      throw Error("vCPU " + std::to_string(i) + " registers differ from checkpoint " + std::to_string(r.version) +
                  " after loading: " + diff);
  }
  platform::PlatformState platform;
  std::memcpy(&platform, r.state.data() + sl.platform(n), sizeof platform);
  vm_->set_platform(platform);
  SerialState serial;
  std::memcpy(&serial, r.state.data() + sl.serial(n), sizeof serial);
  serial_->restore(serial);
  uint64_t device_bytes = 0;
  std::memcpy(&device_bytes, r.state.data() + sl.devices(n), sizeof device_bytes);  // size checked by recover()
  if (device_bytes && !net_)
    throw Error("checkpoint " + std::to_string(r.version) +
                " has a virtio-net device: give net.tap (--net-tap) or net.peer to resume it, or --fresh to start over");
  if (net_ && device_bytes) net_->restore(std::span<const uint8_t>(r.state.data() + sl.devices(n) + 8, device_bytes));
}

bool Machine::pio(uint16_t port, uint8_t* data, unsigned size, bool write) {
  uint64_t offset = 0;
  Device* dev = pio_.find(port, size, offset);
  if (!dev) return false;
  if (write) dev->write(offset, data, size);
  else dev->read(offset, data, size);
  return true;
}

bool Machine::mmio(uint64_t addr, uint8_t* data, unsigned size, bool write) {
  uint64_t offset = 0;
  Device* dev = size <= 8 ? mmio_.find(addr, size, offset) : nullptr;
  if (!dev) return false;
  if (write) dev->write(offset, data, size);
  else dev->read(offset, data, size);
  return true;
}

Machine::~Machine() {
  prefault_.reset();
  stop_requested_ = true;
  cv_.notify_all();
  {
    std::lock_guard lock(power_timer_mu_);
    power_timer_cv_.notify_all();
  }
  kick_all();
  for (auto& v : vcpus_) v->join();
  if (net_) net_->stop();
  if (power_timer_.joinable()) power_timer_.join();
  // Close the userfaultfd before the VM: KVM's async page-fault work may be
  // blocked on a write-protected page, and destroying the VM waits for it.
  ckpt_.reset();
  if (store_ && vm_ && vm_->ram_pages_replaced()) store_->forbid_mapping_reuse();
}

void Machine::start() {
  started_at_ = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    running_ = unsigned(vcpus_.size());
  }
  if (ckpt_) ckpt_->start();
  if (net_) net_->start();
  for (auto& v : vcpus_) v->start();
  emit({{"event", "started"}, {"vcpus", vcpus_.size()}});
}

int Machine::wait() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return running_ == 0; });
  }
  for (auto& v : vcpus_) v->join();
  if (net_) net_->stop();  // before the fault thread goes: its writes may wait for a copy-on-write
  if (ckpt_) ckpt_->stop();
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
    stop_requested_ = true;
  }
  cv_.notify_all();
  kick_all();
  if (reason != StopReason::crash) log::get("vmm")->info("stopping: {}", detail);
  emit({{"event", "stopped"}, {"reason", detail}, {"exit_code", exit_code}});
}

void Machine::vcpu_failed(VcpuRunner& vcpu, const std::string& reason) {
  if (power_failed_) return;  // what a vCPU does after the power is gone does not matter
  std::string report;
  try {
    report = debug::crash_report(reason, vcpu.index(), vcpu.vcpu().get_state(), *memory_);
  } catch (const std::exception& e) {
    report = "VM stopped: " + reason + " on vCPU " + std::to_string(vcpu.index()) + " (registers unavailable: " +
             e.what() + ")\n";
  }
  log::get("vcpu")->error("{}", report);
  emit({{"event", "crash"}, {"vcpu", vcpu.index()}, {"reason", reason}, {"report", report}});
  request_stop(StopReason::crash, kExitCrash, reason);
}

void Machine::vcpu_error(VcpuRunner& vcpu, const std::string& what) {
  if (power_failed_) return;
  log::get("vcpu")->error("vCPU {}: {}", vcpu.index(), what);
  request_stop(StopReason::crash, kExitCrash, "vCPU " + std::to_string(vcpu.index()) + ": " + what);
}

void Machine::vcpu_started(VcpuRunner& vcpu) {
  if (ckpt_ && vcpu.index() == 0) ckpt_->leader_started();
}

void Machine::vcpu_exited(VcpuRunner&) {
  {
    std::lock_guard lock(mu_);
    --running_;
  }
  cv_.notify_all();
}

void Machine::dirty_log_full() {
  if (ckpt_) ckpt_->dirty_log_full();
}

void Machine::guest_system_event(bool reset) {
  if (reset) request_stop(StopReason::reset, 0, "guest requested a reset");
  else request_stop(StopReason::poweroff, 0, "guest shut down");
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

}  // namespace hsls
