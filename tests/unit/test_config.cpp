// Config: defaults, TOML files (types, unknown keys, relative paths),
// parse_size / format_size, and validate()'s refusals.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "vmm/core/config.h"
#include "vmm/core/error.h"

using namespace hsls;
using doctest::Contains;

namespace {

// apply_toml with base dir /base and source name "test.toml".
Config apply(const std::string& text, Config cfg = {}) {
  apply_toml(cfg, text, "/base", "test.toml");
  return cfg;
}

// The message apply_toml refuses `text` with ("" if accepted).
std::string toml_refusal(const std::string& text) {
  try {
    apply(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The message validate refuses cfg with ("" if accepted).
std::string validate_refusal(const Config& cfg) {
  try {
    validate(cfg);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A config that validate() accepts.
Config valid() {
  Config c;
  c.image = "/images/guest.img";
  return c;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_SUITE("config") {

TEST_CASE("defaults") {
  Config c;
  CHECK(c.memory_bytes == 256ull << 20);
  CHECK(c.vcpus == 1);
  CHECK(c.image.empty());
  CHECK(c.cmdline.empty());
  CHECK(c.nvm_path == "/dev/shm/hypersls.nvm");
  CHECK(c.serial_console);
  CHECK(c.serial_log.empty());
  CHECK(c.monitor_path.empty());
  CHECK(c.log_level == "info");
  CHECK(c.ckpt_policy == "auto");  // the machine picks it for its accelerator
  // The defaults plus an image are a valid configuration.
  CHECK(validate_refusal(valid()) == "");
  // Without an image they are not.
  CHECK(starts_with(validate_refusal(Config{}), "guest.image"));
}

TEST_CASE("a full valid TOML file sets every key") {
  auto c = apply(R"(
[machine]
memory = "1G"
vcpus = 4

[guest]
image = "/img/guest.img"
cmdline = "console=ttyS0 selftest"

[nvm]
path = "/dev/shm/test.nvm"

[serial]
console = false
log = "/var/log/serial.log"

[monitor]
socket = "/run/hsls.sock"

[log]
level = "debug"
)");
  CHECK(c.memory_bytes == 1ull << 30);
  CHECK(c.vcpus == 4);
  CHECK(c.image == "/img/guest.img");
  CHECK(c.cmdline == "console=ttyS0 selftest");
  CHECK(c.nvm_path == "/dev/shm/test.nvm");
  CHECK_FALSE(c.serial_console);
  CHECK(c.serial_log == "/var/log/serial.log");
  CHECK(c.monitor_path == "/run/hsls.sock");
  CHECK(c.log_level == "debug");
  CHECK(validate_refusal(c) == "");
}

TEST_CASE("keys absent from the file keep their current values") {
  Config before = valid();
  before.vcpus = 3;
  before.cmdline = "keep";
  auto c = apply("[machine]\nmemory = \"512M\"\n", before);
  CHECK(c.memory_bytes == 512ull << 20);
  CHECK(c.vcpus == 3);
  CHECK(c.cmdline == "keep");
  CHECK(c.image == "/images/guest.img");
  CHECK(c.nvm_path == "/dev/shm/hypersls.nvm");
  // An empty document changes nothing.
  auto e = apply("", before);
  CHECK(e.vcpus == 3);
  CHECK(e.memory_bytes == before.memory_bytes);
}

TEST_CASE("machine.memory accepts a size string or a byte count") {
  CHECK(apply("[machine]\nmemory = \"64M\"").memory_bytes == 64ull << 20);
  CHECK(apply("[machine]\nmemory = \"2GiB\"").memory_bytes == 2ull << 30);
  CHECK(apply("[machine]\nmemory = 33554432").memory_bytes == 32ull << 20);
  CHECK(apply("[machine]\nmemory = 0").memory_bytes == 0);  // validate() refuses it later
}

TEST_CASE("machine.vcpus accepts 1 to 8") {
  CHECK(apply("[machine]\nvcpus = 1").vcpus == 1);
  CHECK(apply("[machine]\nvcpus = 8").vcpus == 8);
}

TEST_CASE("machine.pin_vcpus (on), machine.prefault (on) and ckpt.copier (on) are booleans") {
  CHECK(Config{}.pin_vcpus);
  CHECK(Config{}.prefault);
  CHECK_FALSE(apply("[machine]\nprefault = false").prefault);
  CHECK(has(toml_refusal("[machine]\nprefault = \"no\""), "test.toml: machine.prefault"));
  CHECK(Config{}.ckpt_copier);
  CHECK_FALSE(apply("[machine]\npin_vcpus = false").pin_vcpus);
  CHECK_FALSE(apply("[ckpt]\ncopier = false").ckpt_copier);
  CHECK(has(toml_refusal("[machine]\npin_vcpus = 1"), "test.toml: machine.pin_vcpus"));
  CHECK(has(toml_refusal("[ckpt]\ncopier = \"yes\""), "test.toml: ckpt.copier"));
}

TEST_CASE("each key with a bad type or value is refused, naming the key") {
  struct Bad {
    const char* toml;
    const char* key;
    const char* allowed;  // part of the message that says what is allowed
  };
  const Bad cases[] = {
      {"[machine]\nmemory = \"lots\"", "machine.memory", "256M"},
      {"[machine]\nmemory = \"1.5G\"", "machine.memory", "256M"},
      {"[machine]\nmemory = \"1T\"", "machine.memory", "256M"},
      {"[machine]\nmemory = \"\"", "machine.memory", "256M"},
      {"[machine]\nmemory = -1", "machine.memory", "byte count"},
      {"[machine]\nmemory = 1.5", "machine.memory", "byte count"},
      {"[machine]\nmemory = [1]", "machine.memory", "byte count"},
      {"[machine]\nvcpus = 0", "machine.vcpus", "1-8"},
      {"[machine]\nvcpus = 9", "machine.vcpus", "1-8"},
      {"[machine]\nvcpus = -1", "machine.vcpus", "1-8"},
      {"[machine]\nvcpus = \"2\"", "machine.vcpus", "1-8"},
      {"[machine]\nvcpus = 2.5", "machine.vcpus", "1-8"},
      {"[guest]\nimage = 5", "guest.image", "string"},
      {"[guest]\nimage = true", "guest.image", "string"},
      {"[guest]\ncmdline = 1", "guest.cmdline", "string"},
      {"[guest]\ncmdline = [\"a\"]", "guest.cmdline", "string"},
      {"[nvm]\npath = 3", "nvm.path", "string"},
      {"[serial]\nconsole = \"yes\"", "serial.console", "true or false"},
      {"[serial]\nlog = false", "serial.log", "string"},
      {"[monitor]\nsocket = 1", "monitor.socket", "string"},
      {"[log]\nlevel = 3", "log.level", "string"},
  };
  for (const auto& b : cases) {
    CAPTURE(b.toml);
    auto msg = toml_refusal(b.toml);
    CHECK(has(msg, std::string("test.toml: ") + b.key));
    CHECK(has(msg, b.allowed));
  }
}

TEST_CASE("a refused value throws hsls::Error and leaves that key unchanged") {
  Config c;
  CHECK_THROWS_AS(apply_toml(c, "[machine]\nvcpus = 99\n", "/base", "x.toml"), Error);
  CHECK(c.vcpus == 1);
}

TEST_CASE("unknown keys and tables are refused, naming the key") {
  CHECK(has(toml_refusal("[machine]\nmemroy = \"1G\""), "unknown key 'machine.memroy'"));
  CHECK(has(toml_refusal("[guest]\nimage = \"/a\"\nkernel = \"/b\""), "unknown key 'guest.kernel'"));
  CHECK(has(toml_refusal("[bogus]\nx = 1"), "unknown table [bogus]"));
  CHECK(has(toml_refusal("[machine.extra]\nx = 1"), "unknown key 'machine.extra'"));
  // A key outside any table.
  CHECK(has(toml_refusal("vcpus = 2"), "'vcpus' must be a table like [machine]"));
  // Error messages start with the source name.
  CHECK(starts_with(toml_refusal("[x]\ny = 1"), "test.toml: "));
}

TEST_CASE("a TOML syntax error is refused with the source name and line") {
  auto msg = toml_refusal("[machine]\nvcpus = = 2\n");
  CHECK(starts_with(msg, "test.toml:2: "));
  CHECK(starts_with(toml_refusal("[machine\n"), "test.toml:1: "));
}

TEST_CASE("relative paths are resolved against the base dir; absolute ones are kept") {
  auto c = apply(R"(
[guest]
image = "images/guest.img"
cmdline = "root=relative/not/a/path"
[nvm]
path = "../state/vm.nvm"
[serial]
log = "./logs/serial.log"
[monitor]
socket = "/abs/mon.sock"
)");
  CHECK(c.image == "/base/images/guest.img");
  CHECK(c.nvm_path == "/state/vm.nvm");
  CHECK(c.serial_log == "/base/logs/serial.log");
  CHECK(c.monitor_path == "/abs/mon.sock");
  CHECK(c.cmdline == "root=relative/not/a/path");  // not a path: untouched
}

TEST_CASE("load_config_file resolves paths against the file's directory") {
  auto dir = std::filesystem::temp_directory_path() / ("hsls-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "configs");
  auto file = dir / "configs" / "vm.toml";
  {
    std::ofstream out(file);
    out << "[machine]\nvcpus = 2\n[guest]\nimage = \"../build/guest.img\"\n";
  }
  Config c;
  load_config_file(c, file);
  CHECK(c.vcpus == 2);
  CHECK(c.image == (dir / "build" / "guest.img").string());

  // A bad file is refused with its path in the message.
  {
    std::ofstream out(file);
    out << "[machine]\nvcpus = 0\n";
  }
  CHECK_THROWS_WITH_AS(load_config_file(c, file), Contains((file.string() + ": machine.vcpus").c_str()), Error);
  CHECK_THROWS_WITH_AS(load_config_file(c, dir / "missing.toml"), Contains("missing.toml' cannot be read"), Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("parse_size: units") {
  CHECK(parse_size("0") == 0u);
  CHECK(parse_size("65536") == 65536u);
  CHECK(parse_size("12B") == 12u);
  CHECK(parse_size("4K") == 4096u);
  CHECK(parse_size("4k") == 4096u);
  CHECK(parse_size("4KiB") == 4096u);
  CHECK(parse_size("256M") == 256ull << 20);
  CHECK(parse_size("256MiB") == 256ull << 20);
  CHECK(parse_size("1G") == 1ull << 30);
  CHECK(parse_size("64GiB") == 64ull << 30);
  CHECK(parse_size("007M") == 7ull << 20);
}

TEST_CASE("parse_size: refusals") {
  for (const char* bad : {"", "M", "K4", "1.5G", "-1M", "+1M", "1T", "1 M", " 1M", "1M ", "1MB", "1Gi", "0x10",
                          "1KK", "ten"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_size(bad).has_value());
  }
}

TEST_CASE("parse_size: overflow") {
  CHECK(parse_size("18446744073709551615") == ~0ull);
  CHECK_FALSE(parse_size("18446744073709551616").has_value());
  CHECK_FALSE(parse_size("18446744073709551620").has_value());
  CHECK_FALSE(parse_size("99999999999999999999999").has_value());
  CHECK(parse_size("17179869183G") == 17179869183ull << 30);  // 2^34 - 1 GiB fits
  CHECK_FALSE(parse_size("17179869184G").has_value());         // 2^34 GiB = 2^64 does not
  CHECK(parse_size("17592186044415M") == 17592186044415ull << 20);
  CHECK_FALSE(parse_size("17592186044416M").has_value());
  CHECK_FALSE(parse_size("18014398509481984K").has_value());
}

TEST_CASE("format_size picks the largest exact binary unit") {
  CHECK(format_size(0) == "0 B");
  CHECK(format_size(1) == "1 B");
  CHECK(format_size(1536) == "1536 B");
  CHECK(format_size(4096) == "4 KiB");
  CHECK(format_size(256ull << 20) == "256 MiB");
  CHECK(format_size((1ull << 30) + (512ull << 20)) == "1536 MiB");
  CHECK(format_size(64ull << 30) == "64 GiB");
  CHECK(format_size(1ull << 40) == "1024 GiB");
  // Round trip with parse_size.
  CHECK(parse_size("256M") == 256ull << 20);
  CHECK(format_size(*parse_size("3G")) == "3 GiB");
}

TEST_CASE("validate: machine.memory") {
  auto c = valid();
  c.memory_bytes = kMinMemory;
  CHECK(validate_refusal(c) == "");
  c.memory_bytes = kMaxMemory;
  CHECK(validate_refusal(c) == "");
  const uint64_t bads[] = {0, kMinMemory - (2u << 20), 15ull << 20, kMaxMemory + (2u << 20),
                           17ull << 20, (256ull << 20) + 4096, ~0ull};
  for (uint64_t bad : bads) {
    CAPTURE(bad);
    c.memory_bytes = bad;
    auto msg = validate_refusal(c);
    CHECK(starts_with(msg, "machine.memory: "));
    CHECK(has(msg, "allowed: 16M to 64G, a multiple of 2M"));
  }
}

TEST_CASE("validate: machine.vcpus") {
  auto c = valid();
  c.vcpus = kMaxVcpus;
  CHECK(validate_refusal(c) == "");
  c.vcpus = 0;
  CHECK(starts_with(validate_refusal(c), "machine.vcpus: 0 is not allowed (allowed: 1-8)"));
  c.vcpus = 9;
  CHECK(starts_with(validate_refusal(c), "machine.vcpus: 9 is not allowed (allowed: 1-8)"));
}

TEST_CASE("validate: guest.image and guest.cmdline") {
  auto c = valid();
  c.image = "";
  CHECK(starts_with(validate_refusal(c), "guest.image: "));
  CHECK(has(validate_refusal(c), "allowed:"));

  c = valid();
  c.cmdline = "console=ttyS0\nselftest";
  CHECK(starts_with(validate_refusal(c), "guest.cmdline: "));
  CHECK(has(validate_refusal(c), "newline"));
  c.cmdline = std::string("a\0b", 3);
  CHECK(starts_with(validate_refusal(c), "guest.cmdline: "));

  // Room is kept for the keys the VMM appends.
  c.cmdline = std::string(kMaxCmdline - 64, 'x');
  CHECK(validate_refusal(c) == "");
  c.cmdline += 'x';
  CHECK(starts_with(validate_refusal(c), "guest.cmdline: "));
  CHECK(has(validate_refusal(c), "allowed: at most 4031"));
}

TEST_CASE("validate: nvm.path and log.level") {
  auto c = valid();
  c.nvm_path = "";
  CHECK(starts_with(validate_refusal(c), "nvm.path: "));

  c = valid();
  for (const char* ok : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    c.log_level = ok;
    CHECK(validate_refusal(c) == "");
  }
  for (const char* bad : {"verbose", "", "INFO", "info "}) {
    CAPTURE(bad);
    c.log_level = bad;
    auto msg = validate_refusal(c);
    CHECK(starts_with(msg, "log.level: "));
    CHECK(has(msg, "allowed: trace, debug, info, warn, error, critical, off"));
  }
}

TEST_CASE("validate: net.*, ckpt.dirty_log and ckpt.hot_lease") {
  auto c = valid();
  for (const char* ok : {"auto", "ring", "bitmap"}) {
    c.ckpt_dirty_log = ok;
    CHECK(validate_refusal(c) == "");
  }
  c.ckpt_dirty_log = "pml";
  CHECK(starts_with(validate_refusal(c), "ckpt.dirty_log: "));

  c = valid();
  for (unsigned ok : {0u, 16u, 1000u}) {
    c.ckpt_hot_lease = ok;
    CHECK(validate_refusal(c) == "");
  }
  c.ckpt_hot_lease = 1001;
  CHECK(starts_with(validate_refusal(c), "ckpt.hot_lease: "));

  c = valid();
  c.net_tap = "tap0";
  CHECK(validate_refusal(c) == "");
  for (const char* bad : {"a/b", "tap 0", "x234567890123456"}) {
    CAPTURE(bad);
    c.net_tap = bad;
    CHECK(starts_with(validate_refusal(c), "net.tap: "));
  }
  c = valid();
  for (const char* bad : {"52:54:00:12:34", "52-54-00-12-34-56", "zz:54:00:12:34:56", "01:00:5e:00:00:01"}) {
    CAPTURE(bad);
    c.net_mac = bad;
    CHECK(starts_with(validate_refusal(c), "net.mac: "));
  }
  c = valid();
  c.net_max_held = 0;
  CHECK(starts_with(validate_refusal(c), "net.max_held: "));
  c.net_max_held = 257;
  CHECK(starts_with(validate_refusal(c), "net.max_held: "));
}

TEST_CASE("parse_mac") {
  auto m = parse_mac("52:54:00:aB:cd:EF");
  REQUIRE(m.has_value());
  CHECK((*m)[0] == 0x52);
  CHECK((*m)[3] == 0xab);
  CHECK((*m)[5] == 0xef);
  CHECK_FALSE(parse_mac("52:54:00:ab:cd:e").has_value());
  CHECK_FALSE(parse_mac("52:54:00:ab:cd:eff").has_value());
}

TEST_CASE("net keys are read from the [net] table") {
  auto c = apply("[net]\ntap = \"tap7\"\nmac = \"02:00:00:00:00:01\"\nexternal_sync = false\nmax_held = 64\n");
  CHECK(c.net_tap == "tap7");
  CHECK(c.net_mac == "02:00:00:00:00:01");
  CHECK_FALSE(c.net_external_sync);
  CHECK(c.net_max_held == 64);
}

// ---- Regression tests for bugs found when these tests were first written.

TEST_CASE("a boolean or float is refused where an integer is required") {
  // toml++'s node.value<int64_t>() converts true -> 1 and 2.0 -> 2, so these pass.
  CHECK(has(toml_refusal("[machine]\nvcpus = true"), "machine.vcpus"));
  CHECK(has(toml_refusal("[machine]\nvcpus = 2.0"), "machine.vcpus"));
  CHECK(has(toml_refusal("[machine]\nmemory = true"), "machine.memory"));
  CHECK(has(toml_refusal("[machine]\nmemory = 268435456.0"), "machine.memory"));
}

TEST_CASE("an integer is refused for serial.console") {
  // node.value<bool>() converts integers, so `console = 0` silently means false.
  CHECK(has(toml_refusal("[serial]\nconsole = 0"), "serial.console must be true or false"));
  CHECK(has(toml_refusal("[serial]\nconsole = 2"), "serial.console must be true or false"));
}

TEST_CASE("an unknown table with no keys is refused") {
  // check_known_keys only checks keys inside tables, so an empty [machin] passes.
  CHECK(has(toml_refusal("[machin]\n"), "machin"));
}

TEST_CASE("a directory given as the config file is refused") {
  // std::ifstream opens a directory without error and reads nothing, so
  // load_config_file applies an empty document instead of refusing.
  auto dir = std::filesystem::temp_directory_path();
  Config c;
  CHECK_THROWS_WITH_AS(load_config_file(c, dir), Contains("cannot be read"), Error);
}

TEST_CASE("every string key refuses NUL, newline, tab, other control characters and DEL, naming the key") {
  struct Key {
    const char* name;
    std::string Config::*field;
    const char* good;  // a valid value to spoil
  };
  const Key keys[] = {{"machine.accel", &Config::accel, "tcg"},
                      {"guest.image", &Config::image, "/img/guest.img"},
                      {"guest.cmdline", &Config::cmdline, "selftest"},
                      {"nvm.path", &Config::nvm_path, "/dev/shm/a.nvm"},
                      {"serial.log", &Config::serial_log, "/tmp/serial.log"},
                      {"monitor.socket", &Config::monitor_path, "/tmp/m.sock"},
                      {"log.level", &Config::log_level, "info"},
                      {"ckpt.policy", &Config::ckpt_policy, "cow"},
                      {"ckpt.dirty_log", &Config::ckpt_dirty_log, "auto"},
                      {"ckpt.persistence", &Config::persistence, "adr"},
                      {"net.tap", &Config::net_tap, "tap0"},
                      {"net.mac", &Config::net_mac, "52:54:00:12:34:56"}};
  for (const auto& k : keys) {
    Config c = valid();
    c.*k.field = k.good;
    CHECK(validate_refusal(c) == "");
    for (char bad : {'\0', '\n', '\r', '\t', '\x01', '\x1b', '\x1f', '\x7f'}) {
      std::string value = std::string(k.good) + bad + "evil";
      c.*k.field = value;
      std::string msg = validate_refusal(c);
      std::string key = k.name;
      int byte = bad;
      CAPTURE(key);
      CAPTURE(byte);
      CHECK(starts_with(msg, key + ": contains control character "));
      CHECK(std::none_of(msg.begin(), msg.end(), [](char ch) { return ch == '\n' || ch == '\0'; }));
    }
  }
  // The fuzzer's inputs, through a TOML file ("\u0000" is a valid TOML escape).
  auto c = ::apply("[net]\ntap = \"tap0\\u0000evil\"\n", valid());
  CHECK(c.net_tap == std::string("tap0\0evil", 9));
  CHECK(starts_with(validate_refusal(c), "net.tap: contains control character 0x00 at byte 4"));
  c = ::apply("[nvm]\npath = \"/dev/shm/a.nvm\\u0000.bak\"\n", valid());
  CHECK(starts_with(validate_refusal(c), "nvm.path: contains control character 0x00"));
  c = ::apply("[guest]\ncmdline = \"selftest\\ncrash=triplefault\"\n", valid());
  CHECK(starts_with(validate_refusal(c), "guest.cmdline: contains control character 0x0a"));
  // Non-ASCII text is not a control character.
  c = ::apply("[guest]\ncmdline = \"caf\\u00e9 \\u00df\"\nimage = \"/img/\\u03fb.img\"\n", valid());
  CHECK(validate_refusal(c) == "");
}

TEST_CASE("machine.accel: auto by default, kvm or tcg, from the [machine] table") {
  CHECK(Config{}.accel == "auto");
  for (const char* ok : {"auto", "kvm", "tcg"}) {
    auto c = ::apply(std::string("[machine]\naccel = \"") + ok + "\"\n", valid());
    CHECK(c.accel == ok);
    CHECK(validate_refusal(c) == "");
  }
  auto c = valid();
  for (const char* bad : {"", "KVM", "hvf", "kvm ", "qemu", "auto,tcg"}) {
    std::string value = bad;
    CAPTURE(value);
    c.accel = value;
    CHECK(validate_refusal(c) == "machine.accel: '" + value + "' is not allowed (allowed: auto, kvm, tcg)");
  }
  CHECK(has(toml_refusal("[machine]\naccel = 1\n"), "machine.accel must be a string"));
  CHECK(has(toml_refusal("[accel]\nkvm = true\n"), "unknown table [accel]"));
}

TEST_CASE("a key echoed in a message stays one line") {
  std::string msg = toml_refusal("[machine]\n\"a\\nb\\u0000\" = 1\n");
  CHECK(has(msg, "unknown key 'machine.a\\x0ab\\x00'"));
  CHECK(msg.find('\n') == std::string::npos);
}

TEST_CASE("monitor.socket: a path longer than sun_path holds is refused by name") {
  auto c = valid();
  c.monitor_path = "/tmp/" + std::string(102, 's');  // 107 bytes + NUL = sizeof sun_path
  CHECK(validate_refusal(c) == "");
  c.monitor_path += 's';
  CHECK(starts_with(validate_refusal(c), "monitor.socket: 108 bytes is too long for a Unix socket path (allowed: at most 107 bytes)"));
  // A relative path in a config file is made absolute first, and that is what counts.
  c = ::apply("[monitor]\nsocket = \"" + std::string(103, 's') + "\"\n", valid());
  CHECK(c.monitor_path == "/base/" + std::string(103, 's'));
  CHECK(starts_with(validate_refusal(c), "monitor.socket: 109 bytes is too long"));
}

// The regression inputs of tests/unit/data/config/: files that toml++ 3.3.0
// mishandles (__builtin_unreachable on a non-ASCII character where it asks
// "is this whitespace?", an assertion on a table header not starting with a
// key). Each is refused before toml++ sees it, with one line naming the line.
TEST_CASE("toml++ 3.3.0 never sees what it mishandles: regression inputs") {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(HSLS_UNIT_DATA) / "config";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".toml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 14);
  for (const auto& f : files) {
    std::string name = f.filename().string();
    CAPTURE(name);
    std::ifstream in(f, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string msg = toml_refusal(text.str());
    CHECK(starts_with(msg, "test.toml:"));
    CHECK_FALSE(has(msg, "Error while parsing"));  // refused by the scan, not by toml++
    CHECK(std::none_of(msg.begin(), msg.end(), [](char ch) { return ch == '\n' || ch == '\0'; }));
  }
}

TEST_CASE("toml++ scan: what it refuses, with the line") {
  CHECK(starts_with(toml_refusal("[machine]\n\xcf\xbb = 1\n"), "test.toml:2: non-ASCII character outside a string or comment"));
  CHECK(starts_with(toml_refusal("[machine]\nvcpus = 1\xcf\xbb\n"), "test.toml:2: non-ASCII character"));
  CHECK(starts_with(toml_refusal(std::string("[\0]\n", 4)), "test.toml:1: a table header must start with a key"));
  CHECK(starts_with(toml_refusal(std::string("[a\0]\n", 5)), "test.toml:1: control character 0x00"));
  CHECK(starts_with(toml_refusal("[=]\n"), "test.toml:1: a table header must start with a key"));
  CHECK(starts_with(toml_refusal("[[ #]]\n"), "test.toml:1: a table header must start with a key"));
  CHECK(starts_with(toml_refusal("\n\n[guest]\ncmdline = \"\"\"\\\xcf\xbb\"\"\"\n"), "test.toml:4: backslash before a non-ASCII"));
  CHECK(starts_with(toml_refusal("[guest]\ncmdline = \"\"\"a \\\n\n  \xcf\xbb\"\"\"\n"),
                    "test.toml:4: non-ASCII character first after a line-ending backslash"));
  CHECK(starts_with(toml_refusal("[guest]\ncmdline = \"a\x7f\"\n"), "test.toml:2: control character 0x7f"));
  CHECK(starts_with(toml_refusal("[guest]\ncmdline = \"a\rb\"\n"), "test.toml:2: carriage return without a newline"));
  CHECK(starts_with(toml_refusal("# a\x01 comment\n"), "test.toml:1: control character 0x01"));
  CHECK(starts_with(toml_refusal("[guest]\ncmdline = \"a\nb\"\n"), "test.toml:2: newline inside a one-line string"));
}

TEST_CASE("toml++ scan: bare values are whole numbers, floats and booleans") {
  for (const char* ok : {"1", "+1", "-1", "0", "1_000", "0x1F", "0xdead_beef", "0o17", "0b101", "1.5", "-0.5", "1e3",
                         "1E-3", "6.02e+23", "1_0.0_1e1_0", "inf", "+inf", "-nan", "true", "false"}) {
    std::string text = std::string("[machine]\nvcpus = ") + ok + "\n";
    CAPTURE(text);
    CHECK_FALSE(has(toml_refusal(text), "is not a value"));  // toml++ and the key decide the rest
  }
  for (const char* bad : {"1979-05-27", "1979-05-27T07:32:00Z", "1979-05-27T&7:32:00Z", "07:32:00", "01", "1__0", "_1",
                          "1_", "0x", "-0x1", "0x_1", "1.", ".5", "1e", "1e+", "1.e3", "TRUE", "yes", "-'x'", "1[\"x\"]",
                          "+", "infinity", "0b2", "0o8", "0xg"}) {
    std::string text = std::string("[machine]\nvcpus = ") + bad + "\n";
    CAPTURE(text);
    CHECK(starts_with(toml_refusal(text), "test.toml:2: '"));
    CHECK(has(toml_refusal(text), "is not a value"));
  }
  // In arrays and inline tables too, and up to a ',', ']', '}', '#' or blank.
  CHECK(has(toml_refusal("[machine]\nvcpus = [1, 2x]\n"), "'2x' is not a value"));
  CHECK(has(toml_refusal("[machine]\nvcpus = { a = 1, b = 1-2 }\n"), "'1-2' is not a value"));
  CHECK(toml_refusal("[machine]\nvcpus = 2#x\n") == "");
  CHECK(toml_refusal("[machine]\nvcpus = 2") == "");  // at the end of the text
  CHECK(has(toml_refusal("[machine]\nvcpus = 2z"), "'2z' is not a value"));
}

TEST_CASE("toml++ scan: what TOML allows still passes") {
  // Non-ASCII in strings and comments, CRLF, a byte order mark, tabs.
  auto c = ::apply("\xEF\xBB\xBF# r\xc3\xa9sum\xc3\xa9 \xcf\xbb\r\n[guest]\t# \xe3\x80\x81\r\n"
                 "cmdline = \"\xcf\xbb \\u03fb\"\r\nimage = '/img/\xcf\xbb'\n");
  CHECK(c.cmdline == "\xcf\xbb \xcf\xbb");
  CHECK(c.image == "/img/\xcf\xbb");
  // Multi-line strings: non-ASCII inside, a line-ending backslash before ASCII, quotes next to the delimiter.
  c = ::apply(R"T([guest]
cmdline = """
ϻ a \
    b \"x\" \\ ϻ""""
image = '''
'ϻ'''''
)T");
  CHECK(c.cmdline == "ϻ a b \"x\" \\ ϻ\"");
  CHECK(c.image == "/base/'ϻ''");
  // Table headers: spaced, quoted, dotted, arrays of tables; a '[' at a line start inside an array value is no header.
  CHECK(toml_refusal("[ machine ]\nvcpus = 2\n[\"guest\"]\ncmdline = \"x\"\n") == "");
  CHECK(has(toml_refusal("[[ckpt]]\n"), "must be a table"));
  CHECK(has(toml_refusal("[machine.'a']\n"), "unknown key 'machine.a'"));
  CHECK(has(toml_refusal("[machine]\nvcpus = [\n[1],\n  [ 2 ],\n{ a = 1 }\n]\n"), "machine.vcpus must be an integer"));
  // A bracket inside a string or a comment opens nothing.
  CHECK(toml_refusal("[guest]\ncmdline = \"[\" # [\n[machine]\nvcpus = 2\n") == "");
}

}  // TEST_SUITE

TEST_CASE("ckpt.policy: auto or a policy's name; anything else is refused with the list") {
  for (const char* ok : {"auto", "stop-and-copy", "precopy", "cow", "hybrid"}) {
    Config c = valid();
    c.ckpt_policy = ok;
    CAPTURE(ok);
    CHECK(validate_refusal(c) == "");
  }
  Config c = valid();
  c.ckpt_policy = "fast";
  CHECK(validate_refusal(c) == "ckpt.policy: 'fast' is not allowed (allowed: auto, stop-and-copy, precopy, cow, hybrid)");
}
