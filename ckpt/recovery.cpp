#include "ckpt/recovery.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include <cstring>

#include "ckpt/backup_slots.h"
#include "ckpt/oracle.h"
#include "ckpt/state.h"
#include "vmm/core/error.h"

namespace hsls::ckpt {

namespace {
std::atomic<bool> g_skip_restore{false};

// Calls fn(page, tag in slot 0, tag in slot 1) for every page. The tags are
// read through the file 64 KiB at a time (Persist::read says why): a page's
// two tags are adjacent and pages follow each other (Layout::tag), so one
// read covers 4096 pages.
template <typename Fn>
void for_each_tag_pair(const nvm::Store& store, Fn&& fn) {
  constexpr uint64_t kPagesPerRead = 4096;
  static_assert(sizeof(uint64_t) * 2 * kPagesPerRead == 64 * 1024);
  std::vector<uint64_t> tags(2 * kPagesPerRead);
  const uint64_t pages = store.layout().pages;
  for (uint64_t first = 0; first < pages; first += kPagesPerRead) {
    uint64_t n = std::min(kPagesPerRead, pages - first);
    store.persist().read(tags.data(), store.tag(first, 0), n * 2 * sizeof(uint64_t));
    for (uint64_t i = 0; i < n; ++i) fn(first + i, tags[2 * i], tags[2 * i + 1]);
  }
}

}  // namespace

void inject_skipped_restore(bool on) { g_skip_restore = on; }

std::vector<uint64_t> pages_to_restore(const nvm::Store& store, uint64_t version) {
  std::vector<uint64_t> out;
  for_each_tag_pair(store, [&](uint64_t page, uint64_t tag0, uint64_t tag1) {
    if (backup_slots::holding(tag0, tag1, version)) out.push_back(page);
  });
  return out;
}

std::optional<Recovered> recover(nvm::Store& store, unsigned vcpus) {
  uint64_t g = store.journal().committed();
  if (g == 0) return std::nullopt;
  const std::string where = "NVM file " + store.path() + ": ";
  auto rec = store.journal().find(g);
  if (!rec) throw Error(where + "checkpoint " + std::to_string(g) + " is committed but its journal record is missing or corrupt");
  if (rec->state_offset != store.layout().state[g % 2] || rec->state_bytes > nvm::kStateSlotBytes)
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
  // One pass over the tags finds both the backups to restore (tag G, in
  // either slot) and the tags a failed checkpoint G+1 left: a checkpoint
  // G+1 that failed before its commit may have tagged backups, and the next
  // checkpoint reuses the number G+1, so those tags must go.
  std::vector<uint64_t> restore, stale;
  for_each_tag_pair(store, [&](uint64_t page, uint64_t tag0, uint64_t tag1) {
    if (auto s = backup_slots::holding(tag0, tag1, g)) restore.push_back(nvm::Layout::backup_number(page, *s));
    if (tag0 > g) stale.push_back(nvm::Layout::backup_number(page, 0));
    if (tag1 > g) stale.push_back(nvm::Layout::backup_number(page, 1));
  });
  for (uint64_t backup : restore) {
    if (skip) continue;  // the injected bug
    p.copy_in_file(store.ram() + nvm::Layout::page_of_backup(backup) * 4096, store.backup_by_number(backup), 4096);
    ++out.pages_restored;
    p.point(nvm::CrashPoint::restored);
  }
  p.fence();
  for (uint64_t backup : stale) {
    uint64_t* tag = store.tag_by_number(backup);
    p.store64(tag, 0);
    p.flush(tag, 8);
  }
  p.fence();
  return out;
}

}  // namespace hsls::ckpt
