// The VMM's configuration: built-in defaults, overridden by a TOML file
// (configs/*.toml), overridden by command-line flags. validate() refuses a
// bad value with one line naming the key and the allowed values.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hsls {

struct Config {
  // [machine]
  uint64_t memory_bytes = 256ull << 20;  // machine.memory
  unsigned vcpus = 1;                    // machine.vcpus
  bool pin_vcpus = true;                 // machine.pin_vcpus: a host CPU per vCPU thread when one is to spare
  bool prefault = true;                  // machine.prefault: map guest RAM's pages in the background after start
  std::string accel = "auto";            // machine.accel: "auto" (kvm if /dev/kvm is usable, else tcg) | "kvm" | "tcg"
  // machine.deterministic: false, true (seed 0) or a seed: guest time
  // virtual and a fixed interleaving of vCPUs (software CPU only; issue 16)
  bool deterministic = false;
  uint64_t seed = 0;
  std::string commit_log;                // not a key (--commit-log): a line per commit, for comparing runs
  std::optional<uint64_t> stop_at_block;       // not a key (--stop-at-block): deterministic, quit there
  std::optional<uint64_t> powerfail_at_block;  // not a key (--powerfail-at-block): deterministic, lose power there
  std::optional<uint64_t> unfenced_seed;      // not a key (crashtest, ADR): lines not yet durable may be lost at a failure
  std::string record_input;              // not a key (--record-input): deterministic, log input from outside
  std::string replay_input;              // not a key (--replay-input): deterministic, apply a recorded log
  bool det_paced = true;                 // not a key: guest time never runs ahead of the host's (off for crashtest)
  std::vector<int> vcpu_cpus;            // not a key: the CPU of each vCPU thread as `vmm run` planned it (empty: unpinned)
  // [guest]
  std::string image;                     // guest.image
  std::string cmdline;                   // guest.cmdline
  // [nvm]
  std::string nvm_path = "/dev/shm/hypersls.nvm";  // nvm.path
  // [serial]
  bool serial_console = true;            // serial.console: guest output to stdout
  std::string serial_log;                // serial.log: also append it to this file
  // [monitor]
  std::string monitor_path;              // monitor.socket: Unix socket path ("" = none)
  // [ckpt]
  bool ckpt_enabled = true;              // ckpt.enabled
  double ckpt_interval_ms = 10;          // ckpt.interval_ms (0.5-1000)
  std::string ckpt_policy = "auto";  // ckpt.policy: a policy, or auto (Machine picks one for the accelerator)
  unsigned ckpt_hot_threshold = 2;       // ckpt.hot_threshold (1-history)
  unsigned ckpt_history = 8;             // ckpt.history (1-8 epochs)
  unsigned ckpt_neighbours = 0;          // ckpt.neighbours (0-64 pages)
  bool ckpt_copier = true;               // ckpt.copier: 1 pinned vCPU + a spare CPU: a forked process shares the pause's copying
  unsigned ckpt_hot_lease = 16;          // ckpt.hot_lease (0-1000 epochs; 0 = re-arm dirty tracking every epoch)
  std::string ckpt_dirty_log = "auto";   // ckpt.dirty_log: "auto" (bitmap with hot leases, else ring if KVM has it) | "ring" | "bitmap"
                                         // | "tlb" | "store" (the software CPU's; auto = tlb there)
  std::string ckpt_write_protect = "auto";  // ckpt.write_protect: "auto" | "userfaultfd" | "guard" (the VMM's write
                                            // guard, where every store asks it: the software CPU's tlb log; auto = that)
  std::string persistence = "eadr";      // ckpt.persistence: "eadr" | "adr"
  bool verify = false;                   // ckpt.verify: digest oracle (--verify)
  // [power]
  bool power_restart = false;            // power.restart: power back on after a power failure
  double power_restart_delay_ms = 0;     // power.restart_delay_ms
  // [net]
  std::string net_tap;                   // net.tap: tap device to attach ("" = no network device)
  std::string net_peer;                  // net.peer: "kv" = the built-in kvd client on the cable instead of a tap
  std::string net_mac = "52:54:00:12:34:56";  // net.mac
  bool net_external_sync = true;         // net.external_sync: hold frames until their checkpoint commits
  unsigned net_max_held = 256;           // net.max_held: frames held at most (1-256); then the TX ring waits
  // [log]
  std::string log_level = "info";        // log.level
  // Run options that are not config-file keys.
  bool fresh = false;                    // --fresh: discard what the NVM file holds
};

// Limits of the values validate() accepts.
inline constexpr uint64_t kMinMemory = 16ull << 20;
inline constexpr uint64_t kMaxMemory = 64ull << 30;
inline constexpr unsigned kMaxVcpus = 8;
inline constexpr size_t kMaxCmdline = 4095;

// Parses a size such as "256M", "1G", "65536", "4K" (binary units).
// Returns nullopt for anything else.
std::optional<uint64_t> parse_size(const std::string& text);

// Parses a whole word as an unsigned integer: decimal (leading zeros are
// still decimal, not octal), or hex with 0x. nullopt if invalid or too large.
std::optional<uint64_t> parse_number(const std::string& word);

// Parses a MAC address "aa:bb:cc:dd:ee:ff"; nullopt if it is not one.
std::optional<std::array<uint8_t, 6>> parse_mac(const std::string& text);

// Formats bytes as the largest exact binary unit ("256 MiB").
std::string format_size(uint64_t bytes);

// Applies the keys of a TOML document to cfg. Relative paths are taken
// relative to base_dir. Throws Error naming the key on an unknown key or a
// value of the wrong type.
void apply_toml(Config& cfg, const std::string& toml_text, const std::filesystem::path& base_dir,
                const std::string& source_name);

// Reads a TOML config file into cfg (see apply_toml). Throws Error.
void load_config_file(Config& cfg, const std::filesystem::path& path);

// Checks every value; throws Error("<key>: <problem> (allowed: ...)").
void validate(const Config& cfg);

}  // namespace hsls
