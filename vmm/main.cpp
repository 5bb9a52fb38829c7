// vmm: the hypersls virtual machine monitor. `vmm run` boots a guest image
// on KVM with its memory on an NVM file and serves the monitor.
#include <CLI/CLI.hpp>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <optional>
#include <thread>

#include "vmm/core/config.h"
#include "vmm/core/error.h"
#include "vmm/core/log.h"
#include "vmm/machine.h"
#include "vmm/monitor/monitor.h"

namespace {

using namespace hsls;

// Flags of `vmm run`; each overrides the config file's key when given.
struct RunFlags {
  std::string config;
  std::string image;
  std::optional<std::string> memory, nvm, cmdline, monitor, serial_log, log_level;
  std::optional<unsigned> vcpus;
  bool no_console = false;
  bool fresh = false;
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
  validate(cfg);
  return cfg;
}

// Waits for SIGINT/SIGTERM/SIGHUP (blocked in every thread) and stops the VM.
void watch_signals(Machine& machine, const std::atomic<bool>& done) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  timespec tick{0, 100'000'000};
  while (!done) {
    int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig > 0) machine.request_stop(StopReason::signal, 128 + sig, std::string("signal ") + strsignal(sig));
  }
}

// vmm run: build the machine, serve the monitor, wait for the VM to stop.
int run(const RunFlags& flags) {
  Config cfg = build_config(flags);
  if (!log::set_level(cfg.log_level)) throw Error("log.level: '" + cfg.log_level + "' is not a level");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  check_monitor_path(cfg.monitor_path);
  Machine machine(cfg);
  Monitor monitor(machine, cfg.monitor_path, isatty(STDIN_FILENO) == 1);
  std::atomic<bool> done{false};
  std::thread signals([&] { watch_signals(machine, done); });
  monitor.start();
  machine.start();
  int code = machine.wait();
  monitor.stop();
  done = true;
  signals.join();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vmm: a KVM virtual machine monitor whose whole VM lives on (emulated) NVM", "vmm"};
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
  run_cmd->footer(
      "Exit status: the guest's power-off code; 0 after 'quit'; 70 if the VM stopped on an unexpected exit\n"
      "(a report with registers and disassembly is logged); 128+N after signal N; 1 if the start was refused.\n"
      "The monitor reads commands from the terminal (when stdin is one) and from --monitor; type 'help'.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (run_cmd->parsed()) return run(f);
  } catch (const Error& e) {
    std::fprintf(stderr, "vmm: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
