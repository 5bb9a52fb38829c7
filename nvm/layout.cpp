#include "nvm/layout.h"

#include <xxhash.h>

#include <cstddef>
#include <cstring>

namespace hsls::nvm {
namespace {

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

uint64_t checksum(const void* data, uint64_t len) { return XXH64(data, len, 0x48534c53); }

Layout compute_layout(uint64_t memory_bytes) {
  Layout l;
  l.memory_bytes = memory_bytes;
  l.pages = memory_bytes / kPage;
  l.superblock = 0;
  l.commit = kPage;
  l.journal = 2 * kPage;
  uint64_t at = l.journal + align_up(kJournalRecords * 256, kPage);
  l.state[0] = at;
  l.state[1] = at + kStateSlotBytes;
  at += 2 * kStateSlotBytes;
  l.tags = at;
  at = align_up(at + l.pages * 2 * 8, kPage);
  l.ram = align_up(at, 2ull << 20);
  l.backups = l.ram + memory_bytes;
  l.file_bytes = l.backups + l.pages * 2 * kPage;
  return l;
}

Superblock make_superblock(const Layout& l, uint32_t vcpus, uint64_t now_ns) {
  Superblock sb{};
  std::memcpy(sb.magic, kMagic, sizeof sb.magic);
  sb.format_version = kFormatVersion;
  sb.vcpus = vcpus;
  sb.memory_bytes = l.memory_bytes;
  sb.pages = l.pages;
  sb.commit = l.commit;
  sb.journal = l.journal;
  sb.state0 = l.state[0];
  sb.state1 = l.state[1];
  sb.tags = l.tags;
  sb.ram = l.ram;
  sb.backups = l.backups;
  sb.file_bytes = l.file_bytes;
  sb.created_unix_ns = now_ns;
  sb.checksum = checksum(&sb, offsetof(Superblock, checksum));
  return sb;
}

std::string check_superblock(const Superblock& sb, const Layout& l) {
  if (std::memcmp(sb.magic, kMagic, sizeof sb.magic) != 0) {
    bool blank = true;
    for (char c : sb.magic) blank = blank && c == 0;
    return blank ? "has no hypersls superblock (blank, or its format was never finished)"
                 : "is not a hypersls NVM file (bad magic)";
  }
  if (sb.checksum != checksum(&sb, offsetof(Superblock, checksum))) return "has a corrupt superblock (bad checksum)";
  if (sb.format_version != kFormatVersion)
    return "has format version " + std::to_string(sb.format_version) + " (this vmm reads " + std::to_string(kFormatVersion) + ")";
  if (sb.memory_bytes != l.memory_bytes)
    return "holds a machine with " + std::to_string(sb.memory_bytes >> 20) + " MiB of memory, the config asks for " +
           std::to_string(l.memory_bytes >> 20) + " MiB";
  if (sb.pages != l.pages || sb.commit != l.commit || sb.journal != l.journal || sb.state0 != l.state[0] ||
      sb.state1 != l.state[1] || sb.tags != l.tags || sb.ram != l.ram || sb.backups != l.backups ||
      sb.file_bytes != l.file_bytes)
    return "has a geometry that does not match this vmm's layout";
  return "";
}

}  // namespace hsls::nvm
