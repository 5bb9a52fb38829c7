// vmm: the hypersls virtual machine monitor. `vmm run` boots a guest image
// on KVM or on the software CPU, with its memory on an NVM file, and serves the monitor.
#include <CLI/CLI.hpp>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <optional>
#include <thread>

#include "ckpt/write_protect.h"
#include "vmm/core/config.h"
#include "vmm/core/cpu_placement.h"
#include "vmm/core/error.h"
#include "vmm/core/huge_heap.h"
#include "vmm/core/log.h"
#include "vmm/crashtest/explorer.h"
#include "vmm/machine.h"
#include "vmm/monitor/monitor.h"

namespace {

using namespace hsls;

pid_t g_parent_at_start = 0;  // --exit-with-parent: who started us

// Flags of `vmm run`; each overrides the config file's key when given.
struct RunFlags {
  std::string config;
  std::string image;
  std::optional<std::string> memory, nvm, cmdline, monitor, serial_log, log_level, net_tap, net_peer;
  std::optional<unsigned> vcpus, hot_lease;
  std::optional<double> ckpt_interval;
  std::optional<bool> pin_vcpus, copier, prefault;
  std::optional<std::string> accel;
  std::optional<std::string> deterministic;
  std::string commit_log;
  std::optional<uint64_t> stop_at_block, powerfail_at_block;
  std::string record_input, replay_input;
  std::optional<std::string> ckpt_policy, persistence, dirty_log, write_protect;
  bool no_console = false;
  bool fresh = false;
  bool verify = false;
  bool no_ckpt = false;
  bool power_restart = false;
  bool exit_with_parent = false;
  bool no_external_sync = false;
};

// Builds the effective configuration: defaults < config file < flags.
Config build_config(const RunFlags& f) {
  Config cfg;
  if (!f.config.empty()) load_config_file(cfg, f.config);
  if (f.memory) {
    auto size = parse_size(*f.memory);
    if (!size) throw Error("--memory: '" + *f.memory + "' is not a size (allowed: e.g. 256M, 1G)");
    cfg.memory_bytes = *size;
  }
  if (f.vcpus) cfg.vcpus = *f.vcpus;
  if (!f.image.empty()) cfg.image = f.image;
  if (f.nvm) cfg.nvm_path = *f.nvm;
  if (f.cmdline) cfg.cmdline = *f.cmdline;
  if (f.monitor) cfg.monitor_path = *f.monitor;
  if (f.serial_log) cfg.serial_log = *f.serial_log;
  if (f.log_level) cfg.log_level = *f.log_level;
  if (f.no_console) cfg.serial_console = false;
  cfg.fresh = f.fresh;
  if (f.ckpt_interval) cfg.ckpt_interval_ms = *f.ckpt_interval;
  if (f.ckpt_policy) cfg.ckpt_policy = *f.ckpt_policy;
  if (f.persistence) cfg.persistence = *f.persistence;
  if (f.dirty_log) cfg.ckpt_dirty_log = *f.dirty_log;
  if (f.write_protect) cfg.ckpt_write_protect = *f.write_protect;
  if (f.hot_lease) cfg.ckpt_hot_lease = *f.hot_lease;
  if (f.pin_vcpus) cfg.pin_vcpus = *f.pin_vcpus;
  if (f.prefault) cfg.prefault = *f.prefault;
  if (f.accel) cfg.accel = *f.accel;
  cfg.commit_log = f.commit_log;
  cfg.stop_at_block = f.stop_at_block;
  cfg.powerfail_at_block = f.powerfail_at_block;
  cfg.record_input = f.record_input;
  cfg.replay_input = f.replay_input;
  if (f.deterministic) {
    cfg.deterministic = true;
    if (!f.deterministic->empty()) {
      auto seed = parse_number(*f.deterministic);  // decimal or 0x hex
      if (!seed) throw Error("--deterministic: '" + *f.deterministic + "' is not a seed (an integer >= 0, decimal or 0x hex)");
      cfg.seed = *seed;
    }
  }
  if (f.copier) cfg.ckpt_copier = *f.copier;
  if (f.verify) cfg.verify = true;
  if (f.no_ckpt) cfg.ckpt_enabled = false;
  if (f.power_restart) cfg.power_restart = true;
  if (f.net_tap) cfg.net_tap = *f.net_tap;
  if (f.net_peer) cfg.net_peer = *f.net_peer;
  if (f.no_external_sync) cfg.net_external_sync = false;
  validate(cfg);
  return cfg;
}

// vmm run: build the machine, serve the monitor, wait for the VM to stop.
int run(const RunFlags& flags, const StartCpu& start_cpu) {
  Config cfg = build_config(flags);
  if (!cfg.ckpt_enabled && cfg.verify) throw Error("--verify needs checkpoints (ckpt.enabled = true)");
  if (!log::set_level(cfg.log_level)) throw Error("log.level: '" + cfg.log_level + "' is not a level");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  check_monitor_path(cfg.monitor_path);
  // Before any thread exists, so that every thread but the vCPUs' inherits "the others".
  std::string why;
  const bool in_turn = accel::vcpus_take_turns(accel::resolve(cfg.accel, cfg.deterministic, why));
  auto placement = CpuPlacement::plan(cfg.vcpus, cfg.pin_vcpus, in_turn, start_cpu.usable());
  if (placement.active() && pin_this_thread(placement.others)) {
    cfg.vcpu_cpus = placement.vcpu;
    log::get("vmm")->debug("threads placed: {}", placement.describe());
  } else {
    if (placement.active()) log::get("vmm")->warn("machine.pin_vcpus: the kernel refused to restrict threads to CPUs; running unpinned");
    start_cpu.restore();
  }
  // The monitor's socket before the machine: binding it can still fail, and
  // once the machine is made its NVM file is kept (with --fresh: replaced).
  // A machine that refuses to start takes the socket away again. Declared
  // in this order so that the monitor stops before the machine goes.
  std::unique_ptr<Machine> machine;
  const std::vector<InputLog::Entry> replayed = cfg.replay_input.empty() ? std::vector<InputLog::Entry>{}
                                                                          : InputLog::read(cfg.replay_input);
  Monitor monitor(cfg.monitor_path, isatty(STDIN_FILENO) == 1);
  // The built-in network peer is outside the machine: it outlives power
  // failures and reads back, after each, what kvd acknowledged before.
  std::shared_ptr<net::Link> peer;
  if (cfg.net_peer == "kv") peer = std::make_shared<net::KvPeer>(kv_peer_options(cfg));
  machine = std::make_unique<Machine>(cfg, std::nullopt, peer);
  std::atomic<bool> done{false};
  std::atomic<Machine*> current{machine.get()};
  struct JoinOnExit {
    std::atomic<bool>& done;
    std::thread& t;
    ~JoinOnExit() {
      done = true;
      if (t.joinable()) t.join();
    }
  };
  std::thread signals([&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    timespec tick{0, 100'000'000};
    while (!done) {
      int sig = sigtimedwait(&set, nullptr, &tick);
      Machine* m = current.load();
      if (sig > 0 && m) m->request_stop(StopReason::signal, 128 + sig, std::string("signal ") + strsignal(sig));
    }
  });
  JoinOnExit join_signals{done, signals};
  monitor.start();
  int code = 0;
  for (;;) {
    monitor.attach(machine.get());
    if (!machine->recovery().is_null()) monitor.broadcast(machine->recovery());
    if (cfg.stop_at_block) machine->stop_at_block(*cfg.stop_at_block);
    machine->replay_inputs(replayed);
    if (cfg.powerfail_at_block) machine->power_fail_at_block(*std::exchange(cfg.powerfail_at_block, std::nullopt), cfg.power_restart);
    machine->start();
    code = machine->wait();
    monitor.attach(nullptr);
    if (!machine->power_failed() || !machine->restart_after_power_fail()) break;
    // Power back on: everything volatile is gone; rebuild the machine from NVM.
    // The operator's run-time settings (set ckpt-interval/-policy) are the VMM's, not the VM's: they stay.
    if (auto* c = machine->checkpointer()) {
      auto s = c->settings();
      cfg.ckpt_interval_ms = s.interval_ms;
      cfg.ckpt_policy = ckpt::policy_name(s.policy);
    }
    current = nullptr;
    machine.reset();
    if (cfg.power_restart_delay_ms > 0)
      std::this_thread::sleep_for(std::chrono::microseconds(int64_t(cfg.power_restart_delay_ms * 1000)));
    cfg.fresh = false;
    std::optional<PendingCrash> crash = take_pending_crash();  // powerfail at=restored
    for (;;) {
      try {
        machine = std::make_unique<Machine>(cfg, crash, peer);
        break;
      } catch (const nvm::PowerFailure&) {
        crash.reset();  // power failed during recovery: power on once more
        monitor.broadcast({{"event", "powerfail"}, {"reason", "during recovery"}, {"restart", true}});
      }
    }
    current = machine.get();
  }
  monitor.stop();
  return code;
}

// vmm bench ARGS: runs the benchmark driver with this vmm and the built guest.
int bench(const std::vector<std::string>& args) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) throw Error("cannot find this vmm binary (/proc/self/exe)");
  self[n] = 0;
  std::vector<std::string> argv = {"python3", std::string(HSLS_SOURCE_DIR) + "/tools/bench/bench.py", "--vmm", self,
                                   "--guest", std::string(HSLS_BUILD_DIR) + "/guest/guest.img"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  execvp("python3", cargv.data());
  throw Error(errno_text("cannot run python3 for the benchmark"));
}

}  // namespace

int main(int argc, char** argv) {
  g_parent_at_start = ::getppid();
  // On its own CPU before it touches fresh memory (vmm/core/cpu_placement.h).
  const hsls::StartCpu start_cpu = hsls::StartCpu::take();
  // Freed memory stays with the process and large blocks come from the heap,
  // so that what a machine frees (its engine at a power failure with restart)
  // serves the next: each fresh page costs a first-touch fault (~10-20 us on a
  // PVM guest) and recovery time is counted from the process's beginning.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  // And the next 16 MiB of it on huge pages (vmm/core/huge_heap.h): the
  // start's allocations, the software CPU's engine first of all.
  hsls::back_heap_with_huge_pages(16 << 20);
  hsls::ckpt::reserve_low_fd();
  CLI::App app{"vmm: a virtual machine monitor (KVM or software CPU) whose whole VM lives on (emulated) NVM", "vmm"};
  app.set_version_flag("--version", "hypersls vmm 0.1.0");
  app.require_subcommand(1);

  RunFlags f;
  auto* run_cmd = app.add_subcommand("run", "Boot a guest image (ELF64, PVH entry) and serve the monitor");
  run_cmd->add_option("image", f.image, "Guest image (overrides guest.image)");
  run_cmd->add_option("--config", f.config, "TOML config file (see configs/default.toml)")->check(CLI::ExistingFile);
  run_cmd->add_option("--memory", f.memory, "Guest RAM size, e.g. 256M or 1G (machine.memory; 16M-64G)");
  run_cmd->add_option("--vcpus", f.vcpus, "Number of vCPUs, 1-8 (machine.vcpus)");
  run_cmd->add_option("--nvm", f.nvm, "NVM file that holds guest memory (nvm.path)");
  run_cmd->add_option("--cmdline", f.cmdline, "Guest kernel command line (guest.cmdline)");
  run_cmd->add_option("--monitor", f.monitor, "Unix socket for the JSON monitor, mode 0600 (monitor.socket)");
  run_cmd->add_option("--serial-log", f.serial_log, "Also append guest serial output to FILE (serial.log)");
  run_cmd->add_flag("--no-console", f.no_console, "Do not echo guest serial output to stdout (serial.console=false)");
  run_cmd->add_option("--log-level", f.log_level, "trace, debug, info, warn, error, critical or off (log.level)");
  run_cmd->add_flag("--fresh", f.fresh, "Discard whatever the NVM file holds and boot the image afresh");
  run_cmd->add_flag("--no-ckpt", f.no_ckpt, "Run without checkpoints (ckpt.enabled=false)");
  run_cmd->add_option("--ckpt-interval", f.ckpt_interval, "Checkpoint interval in ms, 0.5-1000 (ckpt.interval_ms)");
  run_cmd->add_option("--ckpt-policy", f.ckpt_policy,
                      "auto (default: cow where guest stores pass the VMM's write guard, the software CPU; else stop-and-copy), "
                      "stop-and-copy, precopy, cow or hybrid (ckpt.policy)");
  run_cmd->add_option("--persistence", f.persistence, "eadr or adr (ckpt.persistence)");
  run_cmd->add_option("--dirty-log", f.dirty_log, "dirty tracking (ckpt.dirty_log): auto; KVM: ring or bitmap; software CPU: tlb or store");
  run_cmd->add_option("--write-protect", f.write_protect,
                      "how copy-on-write stops first writes (ckpt.write_protect): auto, userfaultfd, or guard "
                      "(the VMM's write guard; the software CPU with the tlb log)");
  run_cmd->add_option("--hot-lease", f.hot_lease, "Epochs a written hot page stays out of dirty tracking, 0-1000 (ckpt.hot_lease)");
  run_cmd->add_option("--accel", f.accel,
                      "accelerator: kvm (needs /dev/kvm), tcg (software CPU, Unicorn) or auto = kvm when /dev/kvm opens, else tcg (machine.accel)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  run_cmd->add_option("--deterministic", f.deterministic,
                      "Guest time virtual, vCPUs interleaved in a fixed order: a run is a function of image, config and SEED "
                      "(default 0; software CPU only; machine.deterministic)")
      ->expected(0, 1)
      ->option_text("[=SEED]");
  run_cmd->add_option("--commit-log", f.commit_log,
                      "Append a line per committed checkpoint to FILE: version, block count, guest time, memory and state digests "
                      "(the memory digest needs --verify)");
  run_cmd->add_option("--stop-at-block", f.stop_at_block, "Deterministic: quit (exit 0) once N blocks have executed since boot");
  run_cmd->add_option("--powerfail-at-block", f.powerfail_at_block,
                      "Deterministic: lose power once N blocks have executed since boot (replays a failure; power.restart applies)");
  run_cmd->add_option("--record-input", f.record_input,
                      "Deterministic: append every input from outside (serial, powerfail) to FILE with the point it was applied at");
  run_cmd->add_option("--replay-input", f.replay_input, "Deterministic: apply the inputs of a --record-input FILE at their points");
  run_cmd->add_option("--prefault", f.prefault,
                      "Map guest RAM's pages in the background after start, so that the guest's first touches skip a host "
                      "page fault: true/false (machine.prefault)");
  run_cmd->add_option("--pin-vcpus", f.pin_vcpus, "A host CPU of its own per vCPU thread when one is to spare: true/false (machine.pin_vcpus)");
  run_cmd->add_option("--copier", f.copier, "With 1 pinned vCPU and a spare CPU, a forked process shares the pause's copying at intervals >= 5 ms (default true): true/false (ckpt.copier)");
  run_cmd->add_flag("--verify", f.verify, "Record page and state digests at every commit and check them after recovery");
  run_cmd->add_flag("--power-restart", f.power_restart, "After a power failure, power back on and recover (power.restart)");
  run_cmd->add_flag("--exit-with-parent", f.exit_with_parent,
                    "Be killed when the process that started vmm ends (as QEMU's -run-with exit-with-parent=on): for supervisors and the benchmark");
  run_cmd->add_option("--net-tap", f.net_tap, "Attach a virtio-net device to this tap (net.tap; docs/virtio-net.md)");
  run_cmd->add_option("--net-peer", f.net_peer, "Attach a virtio-net device to a built-in peer instead: kv, a kvd client (net.peer)");
  run_cmd->add_flag("--no-external-sync", f.no_external_sync,
                    "Send the guest's frames at once instead of after their checkpoint commits (net.external_sync=false)");
  run_cmd->footer(
      "Exit status: the guest's power-off code; 0 after 'quit'; 70 if the VM stopped on an unexpected exit\n"
      "or a failed verification; 99 after a power failure (monitor 'powerfail') without restart;\n"
      "(a report with registers and disassembly is logged); 128+N after signal N; 1 if the start was refused.\n"
      "The monitor reads commands from the terminal (when stdin is one) and from --monitor; type 'help'.");

  // vmm crashtest: the crash explorer (vmm/crashtest/explorer.h).
  crashtest::Options ct;
  std::optional<uint64_t> ct_segment, ct_replay;
  std::optional<unsigned> ct_combo;
  auto* crash_cmd = app.add_subcommand(
      "crashtest", "Explore crash states on a deterministic machine: power fails at crash points and block counts, each recovery "
                   "checked by the digest oracle and the guest's ledger (docs/reliability.md)");
  crash_cmd->add_option("--config", ct.config_path, "TOML config of the machine (its guest must run the ledger)")
      ->required()
      ->check(CLI::ExistingFile);
  crash_cmd->add_option("--seed", ct.seed, "Seed of every choice (default 1)");
  crash_cmd->add_option("--states", ct.max_states, "Stop after this many crash states");
  crash_cmd->add_option("--seconds", ct.max_seconds, "Stop after this many seconds");
  crash_cmd->add_option("--per-segment", ct.states_per_segment, "States chained after one boot (default 40)")
      ->check(CLI::Range(1u, 100000u));
  crash_cmd->add_option("--combo", ct_combo, "Only this combination of policy, vCPUs and persistence (0-15)")
      ->check(CLI::Range(0u, crashtest::kCombos - 1));
  crash_cmd->add_option("--jobs", ct.jobs, "Worker processes (default 1)")->check(CLI::Range(1u, 64u));
  crash_cmd->add_flag("--inject-bug", ct.inject_bug,
                     "Testing the explorer: every recovery skips the pages it should restore (the oracle must catch it)");
  crash_cmd->add_option("--segment", ct_segment, "Replay: the segment of a failure line");
  crash_cmd->add_option("--replay", ct_replay, "Replay: states 0..N of --segment, each printed, then stop");

  // vmm bench: the checkpoint benchmark (tools/bench/bench.py) drives
  // `vmm run` processes; every argument goes to it (`vmm bench --help`).
  auto* bench_cmd = app.add_subcommand("bench", "Benchmark checkpoint latency (tools/bench; 'vmm bench --help')");
  bench_cmd->prefix_command();
  bench_cmd->set_help_flag();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (run_cmd->parsed()) {
      if (f.exit_with_parent) {
        // SIGKILL at the parent's death: what a power failure by SIGKILL does, so nothing more is at risk.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) throw Error(errno_text("--exit-with-parent: prctl"));
        if (::getppid() != g_parent_at_start) throw Error("--exit-with-parent: the process that started vmm has already ended");
      }
      return run(f, start_cpu);
    }
    start_cpu.restore();
    if (bench_cmd->parsed()) return bench(bench_cmd->remaining());
    if (crash_cmd->parsed()) {
      if (ct_replay.has_value() != ct_segment.has_value()) throw Error("crashtest: --replay and --segment go together");
      if (!ct.max_states && ct.max_seconds <= 0 && !ct_replay) throw Error("crashtest: give a budget: --states N or --seconds S");
      load_config_file(ct.base, ct.config_path);
      validate(ct.base);
      ct.only_combo = ct_combo;
      ct.replay_segment = ct_segment;
      ct.replay_state = ct_replay;
      return crashtest::explore(ct);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "vmm: error: %s\n", e.what());
    return 1;
  } catch (const nvm::PowerFailure& p) {
    std::fprintf(stderr, "vmm: power failure at %s\n", nvm::crash_point_name(p.point));
    return kExitPowerFail;
  }
  return 0;
}
