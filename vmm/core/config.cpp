#include "vmm/core/config.h"

#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "vmm/core/error.h"

namespace hsls {
namespace {

// The keys a config file may hold, by table.
const std::set<std::string> kKnownKeys = {
    "machine.memory", "machine.vcpus", "machine.pin_vcpus", "machine.accel", "guest.image",    "guest.cmdline", "nvm.path",
    "serial.console", "serial.log",    "monitor.socket", "log.level",     "ckpt.enabled",
    "ckpt.interval_ms", "ckpt.policy", "ckpt.hot_threshold", "ckpt.history", "ckpt.neighbours", "ckpt.hot_lease", "ckpt.copier",
    "ckpt.persistence", "ckpt.verify", "ckpt.dirty_log", "power.restart", "power.restart_delay_ms",
    "net.tap", "net.mac", "net.external_sync", "net.max_held",
};

// Reads a boolean key if present.
void read_bool(const toml::table& root, const char* table, const char* key, bool& out, const std::string& source) {
  auto node = root[table][key];
  if (!node) return;
  auto v = node.value_exact<bool>();
  if (!v) throw Error(source + ": " + table + "." + key + " must be true or false");
  out = *v;
}

// Reads an unsigned integer key if present.
void read_uint(const toml::table& root, const char* table, const char* key, unsigned& out, const std::string& source) {
  auto node = root[table][key];
  if (!node) return;
  auto v = node.value_exact<int64_t>();
  if (!v || *v < 0 || *v > 1'000'000) throw Error(source + ": " + table + "." + key + " must be a non-negative integer");
  out = unsigned(*v);
}

// Reads a number (integer or float) key if present.
void read_number(const toml::table& root, const char* table, const char* key, double& out, const std::string& source) {
  auto node = root[table][key];
  if (!node) return;
  if (auto i = node.value_exact<int64_t>()) out = double(*i);
  else if (auto f = node.value_exact<double>()) out = *f;
  else throw Error(source + ": " + table + "." + key + " must be a number");
}

// Checks that every key of the document is one we know.
void check_known_keys(const toml::table& root, const std::string& source) {
  static const std::set<std::string> tables = {"machine", "guest", "nvm", "serial", "monitor", "log", "ckpt", "power", "net"};
  for (auto&& [table_key, node] : root) {
    const auto* table = node.as_table();
    if (!table) throw Error(source + ": '" + std::string(table_key.str()) + "' must be a table like [machine]");
    if (!tables.count(std::string(table_key.str())))
      throw Error(source + ": unknown table [" + std::string(table_key.str()) + "]");
    for (auto&& [key, value] : *table) {
      std::string full = std::string(table_key.str()) + "." + std::string(key.str());
      if (!kKnownKeys.count(full)) throw Error(source + ": unknown key '" + full + "'");
    }
  }
}

// Reads a string key if present.
void read_string(const toml::table& root, const char* table, const char* key, std::string& out,
                 const std::string& source) {
  auto node = root[table][key];
  if (!node) return;
  auto v = node.value<std::string>();
  if (!v) throw Error(source + ": " + table + "." + key + " must be a string");
  out = *v;
}

// Reads a path key if present, resolving it against base_dir.
void read_path(const toml::table& root, const char* table, const char* key, std::string& out,
               const std::filesystem::path& base_dir, const std::string& source) {
  std::string raw;
  read_string(root, table, key, raw, source);
  if (raw.empty()) return;
  std::filesystem::path p(raw);
  out = p.is_absolute() ? raw : (base_dir / p).lexically_normal().string();
}

}  // namespace

std::optional<uint64_t> parse_size(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t pos = 0;
  uint64_t value = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    uint64_t next = value * 10 + uint64_t(text[pos] - '0');
    if (next / 10 != value) return std::nullopt;
    value = next;
    ++pos;
  }
  if (pos == 0) return std::nullopt;
  std::string unit = text.substr(pos);
  unsigned shift = 0;
  if (unit.empty() || unit == "B") shift = 0;
  else if (unit == "K" || unit == "KiB" || unit == "k") shift = 10;
  else if (unit == "M" || unit == "MiB") shift = 20;
  else if (unit == "G" || unit == "GiB") shift = 30;
  else return std::nullopt;
  if (shift && (value >> (64 - shift)) != 0) return std::nullopt;
  return value << shift;
}

std::optional<std::array<uint8_t, 6>> parse_mac(const std::string& text) {
  std::array<uint8_t, 6> mac{};
  if (text.size() != 17) return std::nullopt;
  for (size_t i = 0; i < 6; ++i) {
    if (i && text[3 * i - 1] != ':') return std::nullopt;
    unsigned v = 0;
    for (size_t k = 0; k < 2; ++k) {
      char c = text[3 * i + k];
      unsigned d = (c >= '0' && c <= '9') ? unsigned(c - '0') : (c >= 'a' && c <= 'f') ? unsigned(c - 'a' + 10)
                   : (c >= 'A' && c <= 'F') ? unsigned(c - 'A' + 10) : 16u;
      if (d == 16) return std::nullopt;
      v = v * 16 + d;
    }
    mac[i] = uint8_t(v);
  }
  return mac;
}

std::string format_size(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (u < 3 && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++u;
  }
  return std::to_string(bytes) + " " + units[u];
}

void apply_toml(Config& cfg, const std::string& toml_text, const std::filesystem::path& base_dir,
                const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw Error(source + ":" + std::to_string(where.line) + ": " + std::string(e.description()));
  }
  check_known_keys(root, source);

  if (auto node = root["machine"]["memory"]) {
    if (auto s = node.value<std::string>()) {
      auto size = parse_size(*s);
      if (!size) throw Error(source + ": machine.memory: '" + *s + "' is not a size (allowed: e.g. \"256M\", \"1G\")");
      cfg.memory_bytes = *size;
    } else if (auto i = node.value_exact<int64_t>(); i && *i >= 0) {
      cfg.memory_bytes = uint64_t(*i);
    } else {
      throw Error(source + ": machine.memory must be a size string like \"256M\" or a byte count");
    }
  }
  if (auto node = root["machine"]["vcpus"]) {
    auto i = node.value_exact<int64_t>();
    if (!i || *i < 1 || *i > int64_t(kMaxVcpus))
      throw Error(source + ": machine.vcpus must be an integer (allowed: 1-" + std::to_string(kMaxVcpus) + ")");
    cfg.vcpus = unsigned(*i);
  }
  read_bool(root, "machine", "pin_vcpus", cfg.pin_vcpus, source);
  read_string(root, "machine", "accel", cfg.accel, source);
  read_path(root, "guest", "image", cfg.image, base_dir, source);
  read_string(root, "guest", "cmdline", cfg.cmdline, source);
  read_path(root, "nvm", "path", cfg.nvm_path, base_dir, source);
  if (auto node = root["serial"]["console"]) {
    auto b = node.value_exact<bool>();
    if (!b) throw Error(source + ": serial.console must be true or false");
    cfg.serial_console = *b;
  }
  read_path(root, "serial", "log", cfg.serial_log, base_dir, source);
  read_path(root, "monitor", "socket", cfg.monitor_path, base_dir, source);
  read_string(root, "log", "level", cfg.log_level, source);
  read_bool(root, "ckpt", "enabled", cfg.ckpt_enabled, source);
  read_number(root, "ckpt", "interval_ms", cfg.ckpt_interval_ms, source);
  read_string(root, "ckpt", "policy", cfg.ckpt_policy, source);
  read_uint(root, "ckpt", "hot_threshold", cfg.ckpt_hot_threshold, source);
  read_uint(root, "ckpt", "history", cfg.ckpt_history, source);
  read_uint(root, "ckpt", "neighbours", cfg.ckpt_neighbours, source);
  read_uint(root, "ckpt", "hot_lease", cfg.ckpt_hot_lease, source);
  read_bool(root, "ckpt", "copier", cfg.ckpt_copier, source);
  read_string(root, "ckpt", "persistence", cfg.persistence, source);
  read_bool(root, "ckpt", "verify", cfg.verify, source);
  read_string(root, "ckpt", "dirty_log", cfg.ckpt_dirty_log, source);
  read_bool(root, "power", "restart", cfg.power_restart, source);
  read_number(root, "power", "restart_delay_ms", cfg.power_restart_delay_ms, source);
  read_string(root, "net", "tap", cfg.net_tap, source);
  read_string(root, "net", "mac", cfg.net_mac, source);
  read_bool(root, "net", "external_sync", cfg.net_external_sync, source);
  read_uint(root, "net", "max_held", cfg.net_max_held, source);
}

void load_config_file(Config& cfg, const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error("config file '" + path.string() + "' cannot be read (not a regular file)");
  std::ifstream in(path);
  if (!in) throw Error("config file '" + path.string() + "' cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  auto base = std::filesystem::absolute(path).parent_path();
  apply_toml(cfg, text.str(), base, path.string());
}

void validate(const Config& cfg) {
  if (cfg.memory_bytes < kMinMemory || cfg.memory_bytes > kMaxMemory || cfg.memory_bytes % (2u << 20) != 0)
    throw Error("machine.memory: " + std::to_string(cfg.memory_bytes) +
                " bytes is not allowed (allowed: 16M to 64G, a multiple of 2M)");
  if (cfg.vcpus < 1 || cfg.vcpus > kMaxVcpus)
    throw Error("machine.vcpus: " + std::to_string(cfg.vcpus) + " is not allowed (allowed: 1-" +
                std::to_string(kMaxVcpus) + ")");
  if (cfg.image.empty()) throw Error("guest.image: no guest image given (allowed: a path to an ELF64 PVH image)");
  if (cfg.cmdline.size() > kMaxCmdline - 64)
    throw Error("guest.cmdline: " + std::to_string(cfg.cmdline.size()) + " bytes is too long (allowed: at most " +
                std::to_string(kMaxCmdline - 64) + ")");
  for (char c : cfg.cmdline)
    if (c == '\0' || c == '\n')
      throw Error("guest.cmdline: contains a NUL or newline (allowed: one line of text)");
  if (cfg.nvm_path.empty()) throw Error("nvm.path: empty (allowed: a file path, e.g. /dev/shm/hypersls.nvm)");
  if (!(cfg.ckpt_interval_ms >= 0.5 && cfg.ckpt_interval_ms <= 1000))
    throw Error("ckpt.interval_ms: " + std::to_string(cfg.ckpt_interval_ms) + " is not allowed (allowed: 0.5 to 1000)");
  static const std::set<std::string> policies = {"stop-and-copy", "precopy", "cow", "hybrid"};
  if (!policies.count(cfg.ckpt_policy))
    throw Error("ckpt.policy: '" + cfg.ckpt_policy + "' is not allowed (allowed: stop-and-copy, precopy, cow, hybrid)");
  if (cfg.ckpt_history < 1 || cfg.ckpt_history > 8)
    throw Error("ckpt.history: " + std::to_string(cfg.ckpt_history) + " is not allowed (allowed: 1-8 epochs)");
  if (cfg.ckpt_hot_threshold < 1 || cfg.ckpt_hot_threshold > cfg.ckpt_history)
    throw Error("ckpt.hot_threshold: " + std::to_string(cfg.ckpt_hot_threshold) +
                " is not allowed (allowed: 1 to ckpt.history = " + std::to_string(cfg.ckpt_history) + ")");
  if (cfg.ckpt_neighbours > 64)
    throw Error("ckpt.neighbours: " + std::to_string(cfg.ckpt_neighbours) + " is not allowed (allowed: 0-64)");
  if (cfg.ckpt_hot_lease > 1000)
    throw Error("ckpt.hot_lease: " + std::to_string(cfg.ckpt_hot_lease) + " is not allowed (allowed: 0-1000 epochs)");
  if (cfg.persistence != "eadr" && cfg.persistence != "adr")
    throw Error("ckpt.persistence: '" + cfg.persistence + "' is not allowed (allowed: eadr, adr)");
  if (cfg.accel != "auto" && cfg.accel != "kvm" && cfg.accel != "tcg")
    throw Error("machine.accel: '" + cfg.accel + "' is not allowed (allowed: auto, kvm, tcg)");
  if (cfg.ckpt_dirty_log != "auto" && cfg.ckpt_dirty_log != "bitmap" && cfg.ckpt_dirty_log != "ring")
    throw Error("ckpt.dirty_log: '" + cfg.ckpt_dirty_log + "' is not allowed (allowed: auto, ring, bitmap)");
  if (!(cfg.power_restart_delay_ms >= 0 && cfg.power_restart_delay_ms <= 60000))
    throw Error("power.restart_delay_ms: not allowed (allowed: 0 to 60000)");
  if (cfg.net_tap.size() >= 16 || cfg.net_tap.find_first_of(" /:\t") != std::string::npos)
    throw Error("net.tap: '" + cfg.net_tap + "' is not an interface name (allowed: up to 15 characters, no spaces, '/' or ':')");
  auto mac = parse_mac(cfg.net_mac);
  if (!mac) throw Error("net.mac: '" + cfg.net_mac + "' is not a MAC address (allowed: e.g. \"52:54:00:12:34:56\")");
  if ((*mac)[0] & 1) throw Error("net.mac: '" + cfg.net_mac + "' is a multicast address (allowed: a unicast MAC)");
  if (cfg.net_max_held < 1 || cfg.net_max_held > 256)
    throw Error("net.max_held: " + std::to_string(cfg.net_max_held) + " is not allowed (allowed: 1-256 frames)");
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "warning", "error", "err", "critical", "off"};
  if (!levels.count(cfg.log_level))
    throw Error("log.level: '" + cfg.log_level + "' is not allowed (allowed: trace, debug, info, warn, error, critical, off)");
}

}  // namespace hsls
