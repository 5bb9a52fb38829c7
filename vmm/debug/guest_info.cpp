#include "vmm/debug/guest_info.h"

#include <fmt/format.h>

#include <cstring>
#include <string>

#include "guest/abi/descriptor.h"

namespace hsls::debug {
namespace {

using namespace hsls_desc;

const char* kKindNames[OBJ_KINDS] = {"capgroup", "thread", "vmspace", "pmo", "connection", "notification", "irqnotification"};

const char* state_name(uint32_t s) {
  switch (s) {
    case PROC_RUNNING: return "running";
    case PROC_EXITED: return "exited";
    case PROC_KILLED: return "killed";
    default: return "free";
  }
}

// Copies a consistent snapshot under the guest's seqlock; false if it never settles.
bool snapshot(const GuestMemory& mem, Descriptor& d) {
  const auto* live = reinterpret_cast<const Descriptor*>(mem.host(DESC_PHYS, sizeof(Descriptor)));
  if (!live) return false;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    uint64_t before = __atomic_load_n(&live->seq, __ATOMIC_ACQUIRE);
    if (before & 1) continue;
    std::memcpy(&d, live, sizeof d);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&live->seq, __ATOMIC_ACQUIRE) == before) return true;
  }
  return false;
}

}  // namespace

nlohmann::json guest_info(const GuestMemory& mem) {
  Descriptor d;
  if (!snapshot(mem, d)) return {{"ok", false}, {"error", "info guest: the guest's descriptor keeps changing; try again"}};
  if (std::memcmp(d.magic, DESC_MAGIC, sizeof d.magic) != 0 || d.version != DESC_VERSION)
    return {{"ok", false}, {"error", fmt::format("info guest: no guest descriptor at {:#x} (the guest kernel has not published one)", DESC_PHYS)}};
  nlohmann::json counts = nlohmann::json::object();
  for (unsigned k = 0; k < OBJ_KINDS; ++k) counts[kKindNames[k]] = d.counts[k];
  nlohmann::json procs = nlohmann::json::array();
  std::string text = fmt::format("root CapGroup {:#x} (guest-physical {:#x}), {} CPU(s), {} of {} pages free\n", d.root_kaddr,
                                 d.root_paddr, d.ncpus, d.pages_free, d.pages_total);
  text += fmt::format("{:>4} {:>4} {:<16} {:<8} {:>5} {:>7} {:>9} {:>5}\n", "pid", "ppid", "name", "state", "thr", "pages",
                      "committed", "caps");
  for (uint32_t i = 0; i < d.nprocs && i < DESC_MAX_PROCS; ++i) {
    const auto& p = d.procs[i];
    if (p.state == PROC_FREE) continue;
    std::string name(p.name, strnlen(p.name, sizeof p.name));
    procs.push_back({{"pid", p.pid}, {"parent", p.parent_pid}, {"name", name}, {"state", state_name(p.state)},
                     {"exit_code", p.exit_code}, {"threads", p.threads}, {"pages", p.mapped_pages},
                     {"committed_pages", p.committed_pages}, {"caps", p.caps}, {"capgroup", p.capgroup_paddr}});
    text += fmt::format("{:>4} {:>4} {:<16} {:<8} {:>5} {:>7} {:>9} {:>5}\n", p.pid, p.parent_pid, name, state_name(p.state),
                        p.threads, p.mapped_pages, p.committed_pages, p.caps);
  }
  nlohmann::json cpus = nlohmann::json::array();
  for (uint32_t c = 0; c < DESC_MAX_CPUS; ++c)
    if (d.cpus[c].online) cpus.push_back({{"cpu", c}, {"ticks", d.cpus[c].ticks}, {"thread", d.cpus[c].current_tid}});
  text += "objects:";
  for (unsigned k = 0; k < OBJ_KINDS; ++k) text += fmt::format(" {}={}", kKindNames[k], d.counts[k]);
  text += "\n";
  return {{"ok", true},          {"root", d.root_kaddr},       {"root_paddr", d.root_paddr}, {"cpus", cpus},
          {"counts", counts},    {"processes", procs},         {"pages_free", d.pages_free}, {"pages_total", d.pages_total},
          {"tsc_hz", d.tsc_hz}, {"kernel_zeroed_pages", d.kernel_zeroed_pages}, {"text", text}};
}

}  // namespace hsls::debug
