#include "vmm/input_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "vmm/core/error.h"

namespace hsls {
namespace {

std::string to_hex(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out.empty() ? "-" : out;
}

bool from_hex(const std::string& hex, std::string& out) {
  if (hex == "-") return true;
  if (hex.size() % 2) return false;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto digit = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
    int hi = digit(hex[i]), lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out += char(hi * 16 + lo);
  }
  return true;
}

}  // namespace

InputLog::InputLog(const std::string& path) : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {
  if (!fd_) throw Error(errno_text("opening the input log " + path));
}

void InputLog::append(const Entry& e) {
  std::string line = fmt::format("{} {} {} {} {}\n", e.power_on, e.block, e.guest_ns, e.kind,
                                 e.kind == "serial" ? to_hex(e.data) : e.data);
  std::lock_guard lock(mu_);
  ssize_t ignored = ::write(fd_.get(), line.data(), line.size());
  (void)ignored;
}

std::vector<InputLog::Entry> InputLog::read(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("--replay-input: cannot read " + path);
  std::vector<Entry> out;
  std::string line;
  for (unsigned n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    std::istringstream words(line);
    Entry e;
    std::string data, extra;
    bool ok = bool(words >> e.power_on >> e.block >> e.guest_ns >> e.kind >> data) && !(words >> extra);
    if (ok && e.kind == "serial") ok = from_hex(data, e.data);
    else if (ok && e.kind == "powerfail") ok = (data == "restart" || data == "halt") && (e.data = data, true);
    else ok = false;
    if (!ok) throw Error(fmt::format("--replay-input: {} line {} is not an input entry: '{}'", path, n, line.substr(0, 80)));
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace hsls
