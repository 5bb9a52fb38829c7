#include "ckpt/recovery.h"

#include <atomic>
#include <utility>

#include <cstring>

#include "ckpt/oracle.h"
#include "ckpt/state.h"
#include "vmm/core/error.h"

namespace hsls::ckpt {

namespace {
std::atomic<bool> g_skip_restore{false};
}  // namespace

void inject_skipped_restore(bool on) { g_skip_restore = on; }

std::vector<uint64_t> pages_to_restore(const nvm::Store& store, uint64_t version) {
  std::vector<uint64_t> out;
  unsigned slot = unsigned(version % 2);
  for (uint64_t page = 0; page < store.layout().pages; ++page)
    if (*store.tag(page, slot) == version) out.push_back(page);
  return out;
}

std::optional<Recovered> recover(nvm::Store& store, unsigned vcpus) {
  uint64_t g = store.journal().committed();
  if (g == 0) return std::nullopt;
  const std::string where = "NVM file " + store.path() + ": ";
  auto rec = store.journal().find(g);
  if (!rec) throw Error(where + "checkpoint " + std::to_string(g) + " is committed but its journal record is missing or corrupt");
  unsigned slot = unsigned(g % 2);
  if (rec->state_offset != store.layout().state[slot] || rec->state_bytes > nvm::kStateSlotBytes)
    throw Error(where + "checkpoint " + std::to_string(g) + " names a state area outside its slot");
  const uint8_t* state = store.file() + rec->state_offset;
  if (bytes_digest(state, rec->state_bytes) != rec->state_checksum)
    throw Error(where + "the saved state of checkpoint " + std::to_string(g) + " is corrupt (checksum mismatch)");
  MachineStateHeader h;
  std::memcpy(&h, state, sizeof h);
  if (h.magic != MachineStateHeader::kMagic || h.version_tag != g)
    throw Error(where + "the saved state of checkpoint " + std::to_string(g) + " has a bad header");
  if (h.version != MachineStateHeader::kVersion)
    throw Error(where + "the saved state of checkpoint " + std::to_string(g) + " has format version " +
                std::to_string(h.version) + (h.version < 3   ? " (KVM's own structs, before the neutral state of format 3)"
                 : h.version == 3 ? " (before the saved clock of format 4)"
                                  : "") +
                "; this vmm reads format " + std::to_string(MachineStateHeader::kVersion) + " (pass --fresh to start over)");
  if (h.vcpus != vcpus)
    throw Error(where + "checkpoint " + std::to_string(g) + " holds " + std::to_string(h.vcpus) +
                " vCPU(s) but the config asks for " + std::to_string(vcpus) + " (pass --fresh to start over)");
  uint64_t device_bytes = 0;
  if (rec->state_bytes >= StateLayout().total(vcpus))
    std::memcpy(&device_bytes, state + StateLayout().devices(vcpus), sizeof device_bytes);
  if (rec->state_bytes < StateLayout().total(vcpus) || h.total_bytes != rec->state_bytes ||
      device_bytes != rec->state_bytes - StateLayout().total(vcpus))
    throw Error(where + "the saved state of checkpoint " + std::to_string(g) + " has an unexpected size");

  Recovered out;
  out.version = g;
  out.record = *rec;
  out.state.assign(state, state + rec->state_bytes);
  out.state_digest = rec->state_checksum;
  auto& p = store.persist();
  bool skip = g_skip_restore.load();
  for (uint64_t page : pages_to_restore(store, g)) {
    if (skip) continue;  // the injected bug
    p.copy_in_file(store.ram() + page * 4096, store.backup(page, slot), 4096);
    ++out.pages_restored;
    p.point(nvm::CrashPoint::restored);
  }
  p.fence();
  // A checkpoint G+1 that failed before its commit may have tagged backups;
  // the next checkpoint reuses the number G+1, so those tags must go.
  unsigned next = unsigned((g + 1) % 2);
  for (uint64_t page = 0; page < store.layout().pages; ++page) {
    uint64_t* tag = store.tag(page, next);
    if (*tag > g) {
      p.store64(tag, 0);
      p.flush(tag, 8);
    }
  }
  p.fence();
  return out;
}

}  // namespace hsls::ckpt
