// The NVM file checks (nvm/: Region, layout and superblock, Journal,
// Store) and recovery by the version rule (ckpt/recovery.h) on corrupt
// files. A file as a real run leaves it (fuzz/nvm_image.h: a machine of
// 1-16 pages, checkpoint G committed, tags of G (in either slot), G-1 and
// a failed G+1) is
// patched by the input (superblock, commit word, journal records, state
// slots, tags, RAM, backups, anywhere; raw bytes or telling 64-bit values),
// optionally with checksums made right again so that the fuzzer gets past
// them, optionally cut short; then Store opens it (sometimes for another
// memory size) and recover() runs (sometimes for another vCPU count).
// The promise (docs/nvm-layout.md): a corrupt file is refused with an
// Error and left exactly as it was, or recovered by the version rule: every
// page with a backup that carries tag G gets that backup (slot G%2's if
// both do), every other page keeps its content, tags above G are cleared,
// and nothing else in the file changes.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>

#include "ckpt/recovery.h"
#include "fuzz/nvm_image.h"
#include "nvm/journal.h"
#include "nvm/store.h"
#include "vmm/core/error.h"

using namespace hsls;

namespace {

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "fuzz_nvm: %s\n", what.c_str());
  std::abort();
}

// Where the first difference is, for the report.
std::string first_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, const nvm::Layout& l) {
  if (a.size() != b.size()) return "size " + std::to_string(a.size()) + " -> " + std::to_string(b.size());
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) {
      const char* area = i < l.commit ? "superblock" : i < l.journal ? "commit word" : i < l.state[0] ? "journal"
                         : i < l.tags ? "state slots" : i < l.ram ? "tags" : i < l.backups ? "RAM" : "backups";
      return "byte " + std::to_string(i) + " (" + area + ")";
    }
  return "";
}

uint64_t u64_at(const std::vector<uint8_t>& f, uint64_t off) {
  uint64_t v = 0;
  if (off + 8 <= f.size()) std::memcpy(&v, f.data() + off, 8);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::silence_logs();
  static fuzz::MemFile file;
  // The files, by (pages, vCPUs, G), kept sparse: their non-zero pages.
  static std::map<std::tuple<uint64_t, unsigned, uint64_t>, std::pair<size_t, std::map<uint64_t, std::vector<uint8_t>>>> baselines;
  FuzzedDataProvider in(data, size);

  const uint64_t pages = in.ConsumeIntegralInRange<uint64_t>(1, 16);
  const unsigned vcpus = in.ConsumeIntegralInRange<unsigned>(1, 2);
  static const uint64_t kVersions[] = {0, 1, 2, 3, 63, 64, 65, 1000};
  const uint64_t g = in.PickValueInArray(kVersions);
  auto key = std::make_tuple(pages, vcpus, g);
  if (!baselines.count(key)) {
    auto full = fuzz::make_image(pages, vcpus, g, fuzz::valid_state(vcpus, g));
    auto& b = baselines[key];
    b.first = full.size();
    for (size_t off = 0; off < full.size(); off += nvm::kPage)
      if (std::any_of(full.begin() + off, full.begin() + off + nvm::kPage, [](uint8_t c) { return c != 0; }))
        b.second[off].assign(full.begin() + off, full.begin() + off + nvm::kPage);
  }
  // Big buffers live on: a fresh 4 MiB vector per run costs more than the run.
  static std::vector<uint8_t> image, before, after, want;
  const auto& base = baselines[key];
  image.assign(base.first, 0);
  for (const auto& [off, bytes] : base.second) std::memcpy(image.data() + off, bytes.data(), bytes.size());
  const nvm::Layout l = nvm::compute_layout(pages * nvm::kPage);

  const uint8_t flags = in.ConsumeIntegral<uint8_t>();
  const uint64_t open_pages = flags & 0x10 ? in.ConsumeIntegralInRange<uint64_t>(1, 17) : pages;
  const unsigned open_vcpus = flags & 0x20 ? in.ConsumeIntegralInRange<unsigned>(1, 3) : vcpus;
  const bool adr = flags & 0x40;
  const uint64_t cut = flags & 0x08 ? in.ConsumeIntegralInRange<uint64_t>(0, image.size()) : image.size();

  // The patches.
  const unsigned n_patches = in.ConsumeIntegralInRange<unsigned>(0, 8);
  for (unsigned k = 0; k < n_patches && in.remaining_bytes() > 0; ++k) {
    struct Area { uint64_t at, len; };
    const unsigned g_slot = unsigned(g % 2);
    const Area areas[] = {
        {0, sizeof(nvm::Superblock)},
        {l.commit, 8},
        {l.journal, nvm::kJournalRecords * sizeof(nvm::CheckpointRecord)},
        {l.journal + (g % nvm::kJournalRecords) * sizeof(nvm::CheckpointRecord), sizeof(nvm::CheckpointRecord)},
        {l.state[g_slot], 4096},
        {l.state[1 - g_slot], 4096},
        {l.tags, pages * 16},
        {l.ram, pages * nvm::kPage},
        {l.backups, pages * 2 * nvm::kPage},
        {0, image.size()},
    };
    const Area& a = areas[in.ConsumeIntegralInRange<size_t>(0, std::size(areas) - 1)];
    if (in.ConsumeBool()) {  // a telling 64-bit value at an 8-byte boundary
      const uint64_t values[] = {0, 1, g - 1, g, g + 1, g + 2, nvm::kMaxVersion, nvm::kMaxVersion + 1, UINT64_MAX,
                                 l.state[0], l.state[1], nvm::kStateSlotBytes, in.ConsumeIntegral<uint64_t>()};
      uint64_t v = values[in.ConsumeIntegralInRange<size_t>(0, std::size(values) - 1)];
      uint64_t off = a.at + in.ConsumeIntegralInRange<uint64_t>(0, (a.len - 1) / 8) * 8;
      if (off + 8 <= image.size()) std::memcpy(image.data() + off, &v, 8);
    } else {
      uint64_t off = a.at + in.ConsumeIntegralInRange<uint64_t>(0, a.len - 1);
      auto bytes = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(1, 32));
      for (size_t i = 0; i < bytes.size() && off + i < image.size(); ++i) image[off + i] = bytes[i];
    }
  }
  // Checksums made right again (else the fuzzer rarely gets past them).
  if (flags & 0x02) fuzz::reseal_record(image, l, u64_at(image, l.commit), flags & 0x04);
  if (flags & 0x01) fuzz::reseal_superblock(image);

  file.write(image, cut);
  file.read(before);

  std::optional<ckpt::Recovered> r;
  try {
    nvm::Store store(file.path(), open_pages * nvm::kPage, open_vcpus, false, adr);
    if (store.formatted()) broken("an existing file was formatted");
    r = ckpt::recover(store, open_vcpus);
    if (r && r->version > nvm::kMaxVersion) broken("recovered a version above kMaxVersion");
  } catch (const Error& e) {
    for (const char* p = e.what(); *p; ++p)
      if (*p == '\n') broken(std::string("a refusal of more than one line: ") + e.what());
    file.read(after);
    if (after != before) broken("a refused file was changed: " + first_difference(before, after, l) + " (" + e.what() + ")");
    return 0;
  }
  file.read(after);
  if (!r) {
    if (after != before) broken("a file with nothing committed was changed: " + first_difference(before, after, l));
    return 0;
  }
  // Recovered: the version rule, on the file as it was, in the layout it
  // was opened with (a superblock rewritten for another size and resealed
  // describes that size, consistently).
  const nvm::Layout lo = nvm::compute_layout(open_pages * nvm::kPage);
  const uint64_t G = r->version;
  if (G != u64_at(before, lo.commit)) broken("recovered another version than the committed one");
  want.assign(before.begin(), before.end());
  const unsigned slot = unsigned(G % 2), next = 1 - slot;
  for (uint64_t p = 0; p < open_pages; ++p) {
    for (unsigned s : {slot, next})
      if (u64_at(before, lo.tag(p, s)) == G) {
        std::memcpy(want.data() + lo.ram + p * nvm::kPage, before.data() + lo.backup(p, s), nvm::kPage);
        break;
      }
    for (unsigned s : {slot, next})
      if (u64_at(before, lo.tag(p, s)) > G) std::memset(want.data() + lo.tag(p, s), 0, 8);
  }
  if (after != want) broken("recovery broke the version rule: " + first_difference(want, after, lo));
  if (r->state.size() != r->record.state_bytes ||
      std::memcmp(r->state.data(), before.data() + r->record.state_offset, r->state.size()) != 0)
    broken("the recovered state is not the bytes of the committed state area");
  return 0;
}
