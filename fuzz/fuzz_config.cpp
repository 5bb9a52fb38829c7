// The config loader (vmm/core/config.h). The first byte picks the way in:
//   even: the rest is a TOML file: apply_toml (with its prescan and toml++)
//         then validate, as load_config_file + `vmm run` do;
//   odd:  the rest is a list of NUL-separated values put straight into the
//         Config's fields, as `vmm run`'s flags do (vmm/main.cpp's CLI11
//         parsing sits in main() and cannot be called from here; what it
//         does with a value is parse_size for --memory and a plain
//         assignment for the rest, then validate), then validate.
// Either way a bad input must end in an Error, never a crash; and whatever
// validate accepts must keep its promises (checked below).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "vmm/core/config.h"
#include "vmm/core/error.h"

using namespace hsls;

namespace {

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "fuzz_config: validate accepted a config that breaks a promise: %s\n", what.c_str());
  std::abort();
}

// What validate() promises of an accepted config.
void check(const Config& c) {
  for (const std::string* s : {&c.accel, &c.image, &c.cmdline, &c.nvm_path, &c.serial_log, &c.monitor_path,
                               &c.log_level, &c.ckpt_policy, &c.ckpt_dirty_log, &c.persistence, &c.net_tap,
                               &c.net_mac})
    for (char ch : *s)
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) broken("a control character in a string value");
  if (c.memory_bytes < kMinMemory || c.memory_bytes > kMaxMemory || c.memory_bytes % (2u << 20)) broken("machine.memory");
  if (c.vcpus < 1 || c.vcpus > kMaxVcpus) broken("machine.vcpus");
  if (c.image.empty() || c.nvm_path.empty()) broken("an empty path");
  if (c.monitor_path.size() > 107) broken("monitor.socket longer than sun_path");
  if (!(c.ckpt_interval_ms >= 0.5 && c.ckpt_interval_ms <= 1000)) broken("ckpt.interval_ms");
  if (c.ckpt_history < 1 || c.ckpt_history > 8 || c.ckpt_hot_threshold < 1 || c.ckpt_hot_threshold > c.ckpt_history)
    broken("ckpt.history / hot_threshold");
  if (c.net_tap.size() > 15) broken("net.tap longer than IFNAMSIZ - 1");
  if (!parse_mac(c.net_mac)) broken("net.mac");
  if (c.net_max_held < 1 || c.net_max_held > 256) broken("net.max_held");
  if (!(c.power_restart_delay_ms >= 0 && c.power_restart_delay_ms <= 60000)) broken("power.restart_delay_ms");
}

// The values of the flags, in a fixed order, from NUL-separated fields.
void apply_flags(Config& cfg, const std::string& text) {
  std::vector<std::string> f;
  size_t start = 0;
  for (;;) {
    size_t nul = text.find('\0', start);
    f.push_back(text.substr(start, nul == std::string::npos ? std::string::npos : nul - start));
    if (nul == std::string::npos) break;
    start = nul + 1;
  }
  auto field = [&](size_t i) -> const std::string* { return i < f.size() ? &f[i] : nullptr; };
  auto number = [](const std::string& s) { return std::strtod(s.c_str(), nullptr); };
  if (auto* v = field(0)) {
    auto size = parse_size(*v);  // --memory
    if (!size) throw Error("--memory: not a size");
    cfg.memory_bytes = *size;
  }
  if (auto* v = field(1)) cfg.vcpus = unsigned(std::strtoul(v->c_str(), nullptr, 10));
  if (auto* v = field(2)) cfg.image = *v;
  if (auto* v = field(3)) cfg.nvm_path = *v;
  if (auto* v = field(4)) cfg.cmdline = *v;
  if (auto* v = field(5)) cfg.monitor_path = *v;
  if (auto* v = field(6)) cfg.serial_log = *v;
  if (auto* v = field(7)) cfg.log_level = *v;
  if (auto* v = field(8)) cfg.ckpt_interval_ms = number(*v);
  if (auto* v = field(9)) cfg.ckpt_policy = *v;
  if (auto* v = field(10)) cfg.persistence = *v;
  if (auto* v = field(11)) cfg.ckpt_dirty_log = *v;
  if (auto* v = field(12)) cfg.ckpt_hot_lease = unsigned(std::strtoul(v->c_str(), nullptr, 10));
  if (auto* v = field(13)) cfg.accel = *v;
  if (auto* v = field(14)) cfg.net_tap = *v;
  if (auto* v = field(15)) cfg.net_mac = *v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  Config cfg;
  cfg.image = "/fuzz/guest.img";  // as the positional IMAGE would (validate wants one)
  try {
    if (data[0] % 2 == 0) apply_toml(cfg, text, "/fuzz/configs", "fuzz.toml");
    else apply_flags(cfg, text);
    validate(cfg);
  } catch (const Error& e) {
    // Refused: fine, with one line (the README's promise; vmm prints it as "vmm: error: ...").
    for (const char* p = e.what(); *p; ++p)
      if (*p == '\n' || *p == '\r') {
        std::fprintf(stderr, "fuzz_config: a refusal of more than one line: %s\n", e.what());
        std::abort();
      }
    return 0;
  }
  check(cfg);
  format_size(cfg.memory_bytes);
  return 0;
}
