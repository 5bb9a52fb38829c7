#include "vmm/monitor/commands.h"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <optional>

#include "vmm/core/error.h"
#include "vmm/debug/guest_info.h"
#include "vmm/debug/inspect.h"
#include "vmm/machine.h"
#include "vmm/monitor/commands_parse.h"

namespace hsls {
namespace {

using json = nlohmann::json;
using Words = std::vector<std::string>;

constexpr uint64_t kMaxDumpBytes = 4096;
constexpr uint64_t kMaxInsns = 256;

json ok(json body = json::object()) {
  body["ok"] = true;
  return body;
}

json error(const std::string& why) { return {{"ok", false}, {"error", why}}; }

struct Command {
  std::string usage;
  std::string help;
  std::function<json(Machine&, const Words&)> run;
};

const std::map<std::string, Command>& commands();

// help: lists every command.
json cmd_help(Machine&, const Words&) {
  json list = json::array();
  std::string text;
  for (const auto& [name, c] : commands()) {
    list.push_back({{"name", name}, {"usage", c.usage}, {"help", c.help}});
    text += fmt::format("  {:<24} {}\n", c.usage, c.help);
  }
  return ok({{"commands", list}, {"text", text}});
}

// What a vCPU is doing besides executing.
const char* run_state_name(accel::RunState s) {
  switch (s) {
    case accel::RunState::running: return "runnable";
    case accel::RunState::halted: return "halted";
    case accel::RunState::wait_for_sipi: return "wait-for-sipi";
  }
  return "other";
}

// info status: run state, size and uptime of the machine.
json info_status(Machine& m) {
  std::string status = m.stopped() ? "stopped" : m.paused() ? "paused" : "running";
  const auto& c = m.config();
  json body = {{"status", status},          {"vcpus", m.vcpu_count()}, {"memory_bytes", c.memory_bytes},
               {"uptime_s", m.uptime_seconds()}, {"nvm", c.nvm_path},    {"image", c.image},
               {"accel", m.accel_name()}};
  body["text"] = fmt::format("status: {}\naccelerator: {}\nvcpus: {}\nmemory: {}\nuptime: {:.3f} s\nnvm: {}\nimage: {}\n",
                             status, m.accel_name(), m.vcpu_count(), format_size(c.memory_bytes), m.uptime_seconds(),
                             c.nvm_path, c.image);
  return ok(body);
}

json segment_json(const accel::Segment& s) {
  return {{"selector", s.selector}, {"base", s.base}, {"limit", s.limit}, {"type", s.type}, {"dpl", s.dpl},
          {"present", s.present},   {"db", s.db},     {"l", s.l}};
}

// info vcpus: registers of every vCPU, read while they are parked.
json info_vcpus(Machine& m) {
  return m.with_vcpus_parked([&] {
    json list = json::array();
    std::string text;
    for (unsigned i = 0; i < m.vcpu_count(); ++i) {
      auto s = m.vcpu(i).get_state();
      using namespace accel;
      list.push_back({{"index", i},          {"mp_state", run_state_name(s.run_state)},
                      {"mode", debug::cpu_bits(s)},
                      {"rip", s.rip},        {"rsp", s.gpr[rsp]}, {"rflags", s.rflags}, {"rax", s.gpr[rax]}, {"rbx", s.gpr[rbx]},
                      {"rcx", s.gpr[rcx]},   {"rdx", s.gpr[rdx]}, {"rsi", s.gpr[rsi]},  {"rdi", s.gpr[rdi]}, {"rbp", s.gpr[rbp]},
                      {"r8", s.gpr[r8]},     {"r9", s.gpr[r9]},   {"r10", s.gpr[r10]},  {"r11", s.gpr[r11]}, {"r12", s.gpr[r12]},
                      {"r13", s.gpr[r13]},   {"r14", s.gpr[r14]}, {"r15", s.gpr[r15]},  {"cr0", s.cr0}, {"cr2", s.cr2},
                      {"cr3", s.cr3},        {"cr4", s.cr4}, {"efer", s.efer},     {"cs", segment_json(s.cs)},
                      {"ss", segment_json(s.ss)}});
      text += fmt::format("vCPU {} ({}, {}-bit)\n", i, run_state_name(s.run_state), debug::cpu_bits(s));
      text += debug::format_registers(s);
    }
    return ok({{"vcpus", list}, {"text", text}});
  });
}

json info_ckpt(Machine& m, std::optional<uint64_t> since);

// info net: the virtio-net device and external synchrony.
json info_net(Machine& m) {
  auto* net = m.net();
  if (!net) return ok({{"enabled", false}, {"text", "no network device (neither net.tap nor net.peer is set)"}});
  json body = net->info();
  body["enabled"] = true;
  const auto& h = body["hold_us"];
  body["text"] = fmt::format(
      "virtio-net on {} (MAC {}), external synchrony {}, driver {}{}\n"
      "frames: tx {} rx {}; held now {}, released {}, dropped at power failures {}; hold p50 {} us, p99 {} us, max {} us\n",
      body["link"].get<std::string>(), body["mac"].get<std::string>(), body["external_sync"].get<bool>() ? "on" : "off",
      body["driver_ok"].get<bool>() ? "ready" : "not ready", body["needs_reset"].get<bool>() ? ", NEEDS RESET" : "",
      body["tx_frames"].get<uint64_t>(), body["rx_frames"].get<uint64_t>(), body["held"].get<uint64_t>(),
      body["released"].get<uint64_t>(), body["dropped_powerfail"].get<uint64_t>(), h["p50"].get<uint64_t>(),
      h["p99"].get<uint64_t>(), h["max"].get<uint64_t>());
  if (body.contains("peer")) {
    const auto& p = body["peer"];
    body["text"] = body["text"].get<std::string>() +
                   fmt::format("peer: {} SETs sent, {} acknowledged, {} reads checked, {} resent, {} power failures{}\n",
                               p["sets_sent"].get<uint64_t>(), p["sets_acked"].get<uint64_t>(), p["reads_checked"].get<uint64_t>(),
                               p["resends"].get<uint64_t>(), p["power_losses"].get<uint64_t>(),
                               p["violation"].get<std::string>().empty() ? "" : "; VIOLATION: " + p["violation"].get<std::string>());
  }
  return ok(body);
}

json cmd_info(Machine& m, const Words& w) {
  if (w.size() == 3 && w[1] == "ckpt") {
    std::optional<uint64_t> since;
    if (w[2].rfind("since=", 0) == 0) since = parse_number(w[2].substr(6));
    if (!since) return error("info ckpt: '" + w[2] + "' is not since=VERSION (a committed version)");
    return info_ckpt(m, since);
  }
  if (w.size() != 2) return error("usage: info status|vcpus|ckpt [since=VERSION]|guest|net");
  if (w[1] == "status") return info_status(m);
  if (w[1] == "net") return info_net(m);
  if (w[1] == "vcpus") return info_vcpus(m);
  if (w[1] == "ckpt") return info_ckpt(m, std::nullopt);
  if (w[1] == "guest") return debug::guest_info(m.memory());
  return error("info: unknown item '" + w[1] + "' (allowed: status, vcpus, ckpt, guest, net)");
}

json cmd_pause(Machine& m, const Words& w) {
  if (w.size() != 1) return error("usage: pause");
  m.user_pause();
  return ok({{"status", "paused"}, {"text", "paused"}});
}

json cmd_resume(Machine& m, const Words& w) {
  if (w.size() != 1) return error("usage: resume");
  m.user_resume();
  return ok({{"status", "running"}, {"text", "running"}});
}

// x ADDR N: hex dump of guest-physical memory.
json cmd_x(Machine& m, const Words& w) {
  if (w.size() != 3) return error("usage: x ADDR N (guest-physical address, byte count 1-4096)");
  auto addr = parse_number(w[1]);
  auto len = parse_number(w[2]);
  if (!addr) return error("x: '" + w[1] + "' is not an address (decimal or 0x hex)");
  if (!len || *len == 0 || *len > kMaxDumpBytes) return error("x: count '" + w[2] + "' is not allowed (allowed: 1-4096)");
  std::vector<uint8_t> bytes(*len);
  if (!m.memory().read(*addr, bytes.data(), *len))
    return error(fmt::format("x: [{:#x}, {:#x}) is not guest RAM", *addr, *addr + *len));
  std::string hex, text;
  for (uint64_t i = 0; i < *len; ++i) {
    hex += fmt::format("{:02x}", bytes[i]);
    if (i % 16 == 0) text += fmt::format("{:016x}:", *addr + i);
    text += fmt::format(" {:02x}", bytes[i]);
    if (i % 16 == 15 || i + 1 == *len) text += "\n";
  }
  return ok({{"addr", *addr}, {"len", *len}, {"bytes", hex}, {"text", text}});
}

// Renders disassembled instructions as a reply.
json insns_reply(const std::vector<debug::Insn>& insns, json body) {
  json list = json::array();
  std::string text;
  for (const auto& i : insns) {
    list.push_back({{"addr", i.address}, {"bytes", i.bytes}, {"text", i.text}});
    text += fmt::format("{:#018x}: {:<20} {}\n", i.address, i.bytes, i.text);
  }
  body["insns"] = list;
  body["text"] = text;
  return ok(body);
}

// x/i ADDR|rip[@K] N: disassembly at a guest-physical address (in vCPU 0's
// current mode) or at vCPU K's rip (translated through its page tables).
json cmd_xi(Machine& m, const Words& w) {
  if (w.size() != 3) return error("usage: x/i ADDR|rip|rip@VCPU N");
  auto count = parse_number(w[2]);
  if (!count || *count == 0 || *count > kMaxInsns) return error("x/i: count '" + w[2] + "' is not allowed (allowed: 1-256)");
  unsigned index = 0;
  std::optional<uint64_t> addr;
  if (w[1].rfind("rip", 0) == 0) {
    if (w[1].size() > 3) {
      auto k = w[1][3] == '@' ? parse_number(w[1].substr(4)) : std::nullopt;
      if (!k || *k >= m.vcpu_count())
        return error("x/i: '" + w[1] + "' names no vCPU (allowed: rip or rip@0.." + std::to_string(m.vcpu_count() - 1) + ")");
      index = unsigned(*k);
    }
  } else {
    addr = parse_number(w[1]);
    if (!addr) return error("x/i: '" + w[1] + "' is not an address or rip");
  }
  return m.with_vcpus_parked([&]() -> json {
    auto s = m.vcpu(index).get_state();
    int bits = debug::cpu_bits(s);
    if (addr) {
      auto insns = debug::disassemble(m.memory(), *addr, *addr, unsigned(*count), bits);
      if (insns.empty()) return error(fmt::format("x/i: nothing to decode at {:#x} (not guest RAM or invalid code)", *addr));
      return insns_reply(insns, {{"bits", bits}});
    }
    uint64_t linear = bits == 64 ? s.rip : s.cs.base + s.rip;
    auto phys = debug::translate(m.memory(), s, linear);
    auto insns = phys ? debug::disassemble(m.memory(), *phys, linear, unsigned(*count), bits) : std::vector<debug::Insn>{};
    if (insns.empty()) return error(fmt::format("x/i: rip {:#x} of vCPU {} is not in guest RAM", linear, index));
    return insns_reply(insns, {{"vcpu", index}, {"rip", s.rip}, {"bits", bits}});
  });
}

// serial TEXT: a line of input for the guest's UART.
json cmd_serial(Machine& m, const Words& w, const std::string& line) {
  auto text = serial_text(line);
  if (w.size() < 2 || !text) return error("usage: serial TEXT (sends TEXT and a newline to the guest console)");
  size_t queued = m.type_serial(*text + "\n");
  if (queued < text->size() + 1) return error("serial: the guest's receive buffer is full; sent " + std::to_string(queued) + " bytes");
  return ok({{"sent", queued}});
}

// checkpoint: take one now (the vCPUs are parked for it).
json cmd_checkpoint(Machine& m, const Words& w) {
  if (w.size() != 1) return error("usage: checkpoint");
  if (m.vm().deterministic()) return error("checkpoint: a deterministic machine checkpoints at fixed points of guest time only");
  auto* c = m.checkpointer();
  if (!c) return error("checkpoint: checkpoints are off (ckpt.enabled = false)");
  uint64_t version = m.with_vcpus_parked([&] { return c->checkpoint_parked(); });
  auto last = c->stats().last(1);
  json body = {{"version", version}, {"text", "checkpoint " + std::to_string(version) + " committed"}};
  if (!last.empty()) body["stats"] = ckpt::StatsRing::to_json(last[0]);
  return ok(body);
}

// info ckpt [since=VERSION]: settings, last committed version and its age,
// statistics (of the last 1000 checkpoints, or of those after VERSION).
json info_ckpt(Machine& m, std::optional<uint64_t> since) {
  auto* c = m.checkpointer();
  if (!c) return ok({{"enabled", false}, {"committed_version", m.store().journal().committed()}, {"text", "checkpoints are off"}});
  json body = c->info(since);
  const auto& s = body["summary"];
  std::string text = fmt::format("policy {} every {} ms ({}), committed version {}, {} checkpoints\n", body["policy"].get<std::string>(),
                                 body["interval_ms"].get<double>(), body["persistence"].get<std::string>(),
                                 body["committed_version"].get<uint64_t>(), body["checkpoints"].get<uint64_t>());
  if (since)
    text += fmt::format("since version {}: {} checkpoints{}\n", *since, s["count"].get<uint64_t>(),
                        s["complete"].get<bool>() ? "" : fmt::format(" (only the last {} are kept)", s["kept"].get<uint64_t>()));
  if (s.contains("pause_us"))
    text += fmt::format("pause p50 {:.0f} us, p99 {:.0f} us, max {:.0f} us; dirty pages p50 {:.0f}; copy-on-write faults avg {:.1f} us\n",
                        s["pause_us"]["p50"].get<double>(), s["pause_us"]["p99"].get<double>(), s["pause_us"]["max"].get<double>(),
                        s["pages_dirty"]["p50"].get<double>(), s["cow_fault_avg_us"].get<double>());
  body["text"] = text;
  return ok(body);
}

// set ckpt-interval MS | set ckpt-policy NAME
json cmd_set(Machine& m, const Words& w) {
  if (w.size() != 3) return error("usage: set ckpt-interval MS | set ckpt-policy NAME");
  auto* c = m.checkpointer();
  if (!c) return error("set: checkpoints are off (ckpt.enabled = false)");
  if (m.vm().deterministic()) return error("set: a deterministic machine's checkpoint settings are fixed for the run");
  if (w[1] == "ckpt-interval") {
    char* end = nullptr;
    double ms = std::strtod(w[2].c_str(), &end);
    if (!end || *end || !(ms >= 0.5 && ms <= 1000)) return error("set ckpt-interval: '" + w[2] + "' is not allowed (allowed: 0.5 to 1000 ms)");
    c->set_interval(ms);
    return ok({{"interval_ms", ms}});
  }
  if (w[1] == "ckpt-policy") {
    auto p = ckpt::policy_from_name(w[2]);
    if (!p) return error("set ckpt-policy: '" + w[2] + "' is not a policy (allowed: " + ckpt::kPolicyNames + ")");
    c->set_policy(*p);
    return ok({{"policy", w[2]}});
  }
  return error("set: unknown setting '" + w[1] + "' (allowed: ckpt-interval, ckpt-policy)");
}

// powerfail [restart] [at=POINT[#N]] [after=MS]: lose power now, at a crash
// point of the checkpoint protocol, or after a delay.
json cmd_powerfail(Machine& m, const Words& w) {
  auto parsed = parse_powerfail(w, m.config().power_restart);
  if (auto* why = std::get_if<std::string>(&parsed)) return error(*why);
  const auto& args = std::get<PowerfailArgs>(parsed);
  bool restart = args.restart;
  std::optional<nvm::CrashPoint> point = args.point;
  uint64_t nth = args.nth;
  std::optional<double> after = args.after_ms;
  if (args.at_block) {
    if (!m.vm().deterministic()) return error("powerfail: at-block= needs a deterministic machine (--deterministic)");
    if (*args.at_block <= m.vm().blocks_executed())
      return error("powerfail: at-block=" + std::to_string(*args.at_block) + " has passed (" +
                   std::to_string(m.vm().blocks_executed()) + " blocks executed)");
    m.power_fail_at_block(*args.at_block, restart);
    return ok({{"at_block", *args.at_block}, {"restart", restart}});
  }
  if (point && *point == nvm::CrashPoint::restored) {
    set_pending_crash({*point, nth});
    m.power_fail("so that the recovery meets crash point restored#" + std::to_string(nth), true);
    return ok({{"text", "power failed; the recovery will fail again at restored#" + std::to_string(nth)}});
  }
  if (point) {
    if (!m.checkpointer()) return error("powerfail: at= needs checkpoints (ckpt.enabled = true)");
    m.arm_power_fail(*point, nth, restart);
    return ok({{"armed", std::string(nvm::crash_point_name(*point)) + "#" + std::to_string(nth)}, {"restart", restart}});
  }
  if (after) {
    m.power_fail_after(*after, restart);
    return ok({{"after_ms", *after}, {"restart", restart}});
  }
  if (m.vm().deterministic()) {
    // At a point of the schedule, logged with its block count for a replay.
    m.power_fail_external(restart);
    return ok({{"restart", restart}, {"text", "power fails at the next point of the schedule"}});
  }
  m.power_fail("from the monitor", restart);
  return ok({{"restart", restart}, {"text", restart ? "power failed; powering back on" : "power failed"}});
}

json cmd_quit(Machine& m, const Words& w) {
  if (w.size() != 1) return error("usage: quit");
  m.request_stop(StopReason::quit, 0, "quit from the monitor");
  return ok({{"text", "quitting"}});
}

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> table = {
      {"help", {"help", "list the commands", cmd_help}},
      {"info", {"info status|vcpus|ckpt [since=VERSION]|guest|net",
                "machine state / vCPU registers / checkpoints (statistics of those after VERSION) / the guest's object tree / network",
                cmd_info}},
      {"checkpoint", {"checkpoint", "take a checkpoint now", cmd_checkpoint}},
      {"set", {"set ckpt-interval MS|ckpt-policy NAME", "change checkpointing at run time", cmd_set}},
      {"powerfail", {"powerfail [restart] [at=POINT[#N]] [at-block=N] [after=MS]", "lose power now, at a crash point, at a block count (deterministic), or later", cmd_powerfail}},
      {"pause", {"pause", "stop every vCPU", cmd_pause}},
      {"resume", {"resume", "let the vCPUs run again", cmd_resume}},
      {"x", {"x ADDR N", "hex dump N bytes of guest-physical memory", cmd_x}},
      {"x/i", {"x/i ADDR|rip[@K] N", "disassemble N instructions", cmd_xi}},
      {"serial", {"serial TEXT", "type a line on the guest's serial console", nullptr}},
      {"quit", {"quit", "stop the VM and exit vmm", cmd_quit}},
  };
  return table;
}

}  // namespace

std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

json run_command(Machine& machine, const std::string& line) {
  auto words = split_words(line);
  if (words.empty()) return error("empty command (try 'help')");
  auto it = commands().find(words[0]);
  if (it == commands().end()) return error("unknown command '" + words[0] + "' (try 'help')");
  try {
    if (words[0] == "serial") return cmd_serial(machine, words, line);
    return it->second.run(machine, words);
  } catch (const std::exception& e) {
    return error(words[0] + ": " + e.what());
  }
}

}  // namespace hsls
