// The NVM file layout: area placement and alignment, per-page backup and tag
// offsets, the superblock round trip and every refusal of check_superblock.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "ckpt/state.h"
#include "nvm/layout.h"
#include "vmm/core/config.h"

using namespace hsls;
using namespace hsls::nvm;
using doctest::Contains;

namespace {

constexpr uint64_t MiB = 1ull << 20;

// Every area as [start, end) in file order.
struct Area {
  const char* name;
  uint64_t start, end;
};

std::vector<Area> areas(const Layout& l) {
  uint64_t journal_end = l.journal + kJournalRecords * 256;
  return {
      {"superblock", l.superblock, l.superblock + sizeof(Superblock)},
      {"commit", l.commit, l.commit + 8},
      {"journal", l.journal, journal_end},
      {"state0", l.state[0], l.state[0] + kStateSlotBytes},
      {"state1", l.state[1], l.state[1] + kStateSlotBytes},
      {"tags", l.tags, l.tags + l.pages * 2 * 8},
      {"ram", l.ram, l.ram + l.memory_bytes},
      {"backups", l.backups, l.backups + l.pages * 2 * kPage},
  };
}

}  // namespace

TEST_CASE("nvm layout: areas are aligned, ordered, disjoint and the file holds two backups per page") {
  for (uint64_t mem : {16 * MiB, 18 * MiB, 256 * MiB, 1024 * MiB + 2 * MiB, 64 * 1024 * MiB}) {
    CAPTURE(mem);
    Layout l = compute_layout(mem);
    CHECK(l.memory_bytes == mem);
    CHECK(l.pages == mem / kPage);
    CHECK(l.superblock == 0);
    auto as = areas(l);
    for (const auto& a : as) {
      CAPTURE(a.name);
      CHECK(a.start % kPage == 0);
      CHECK(a.end > a.start);
    }
    CHECK(l.ram % (2 * MiB) == 0);
    for (size_t i = 1; i < as.size(); ++i) {
      CAPTURE(as[i].name);
      CHECK(as[i].start >= as[i - 1].end);  // in order, no overlap
    }
    CHECK(sizeof(Superblock) <= l.commit);
    CHECK(l.backups == l.ram + mem);
    CHECK(l.file_bytes == l.backups + l.pages * 2 * kPage);
    CHECK(l.file_bytes >= as.back().end);
    CHECK(l.file_bytes >= mem * 3);
    // The last backup page ends exactly at the end of the file.
    CHECK(l.backup(l.pages - 1, 1) + kPage == l.file_bytes);
    // The last tag lies inside the tag area, before RAM.
    CHECK(l.tag(l.pages - 1, 1) + 8 <= l.ram);
  }
}

TEST_CASE("nvm layout: the layout is a pure function of the memory size") {
  Layout a = compute_layout(32 * MiB), b = compute_layout(32 * MiB), c = compute_layout(34 * MiB);
  CHECK(std::memcmp(&a, &b, sizeof a) == 0);
  CHECK(c.ram >= a.ram);
  CHECK(c.file_bytes > a.file_bytes);
}

TEST_CASE("nvm layout: backup() and tag() offsets") {
  Layout l = compute_layout(16 * MiB);
  CHECK(l.backup(0, 0) == l.backups);
  CHECK(l.backup(0, 1) == l.backups + kPage);
  CHECK(l.backup(1, 0) == l.backups + 2 * kPage);
  CHECK(l.backup(7, 1) == l.backups + 15 * kPage);
  CHECK(l.tag(0, 0) == l.tags);
  CHECK(l.tag(0, 1) == l.tags + 8);
  CHECK(l.tag(1, 0) == l.tags + 16);
  CHECK(l.tag(7, 1) == l.tags + 15 * 8);
  // Every (page, slot) gets its own backup page and tag: distinct and dense.
  for (uint64_t p : {uint64_t(0), uint64_t(1), l.pages / 2, l.pages - 2}) {
    CHECK(l.backup(p, 1) - l.backup(p, 0) == kPage);
    CHECK(l.backup(p + 1, 0) - l.backup(p, 1) == kPage);
    CHECK(l.tag(p, 1) - l.tag(p, 0) == 8);
    CHECK(l.tag(p + 1, 0) - l.tag(p, 1) == 8);
    CHECK(l.tag(p, 0) % 8 == 0);  // store64 needs aligned tags
  }
}

TEST_CASE("nvm layout: a state slot holds the machine state of the largest machine") {
  CHECK(ckpt::StateLayout().total(kMaxVcpus) <= kStateSlotBytes);
  Layout l = compute_layout(16 * MiB);
  CHECK(l.state[1] - l.state[0] == kStateSlotBytes);
  CHECK(l.tags - l.state[1] >= kStateSlotBytes);
  CHECK(sizeof(Superblock) <= kPage);
}

TEST_CASE("nvm superblock: make_superblock round trip passes check_superblock") {
  Layout l = compute_layout(64 * MiB);
  Superblock sb = make_superblock(l, 3, 123456789);
  CHECK(std::memcmp(sb.magic, kMagic, 8) == 0);
  CHECK(sb.format_version == kFormatVersion);
  CHECK(sb.vcpus == 3);
  CHECK(sb.memory_bytes == l.memory_bytes);
  CHECK(sb.pages == l.pages);
  CHECK(sb.commit == l.commit);
  CHECK(sb.journal == l.journal);
  CHECK(sb.state0 == l.state[0]);
  CHECK(sb.state1 == l.state[1]);
  CHECK(sb.tags == l.tags);
  CHECK(sb.ram == l.ram);
  CHECK(sb.backups == l.backups);
  CHECK(sb.file_bytes == l.file_bytes);
  CHECK(sb.created_unix_ns == 123456789);
  CHECK(sb.checksum == checksum(&sb, offsetof(Superblock, checksum)));
  CHECK(check_superblock(sb, l) == "");
  // Through raw bytes (as it is read back from the file).
  std::vector<uint8_t> raw(sizeof sb);
  std::memcpy(raw.data(), &sb, sizeof sb);
  Superblock back;
  std::memcpy(&back, raw.data(), sizeof back);
  CHECK(check_superblock(back, l) == "");
}

TEST_CASE("nvm superblock: check_superblock refusals") {
  Layout l = compute_layout(16 * MiB);
  Superblock good = make_superblock(l, 1, 42);

  SUBCASE("blank (all zero): never finished") {
    Superblock sb{};
    std::string why = check_superblock(sb, l);
    CHECK(why != "");
    CHECK(why.find("blank") != std::string::npos);
    CHECK(why.find("never finished") != std::string::npos);
    CHECK(why.find("bad magic") == std::string::npos);
  }
  SUBCASE("bad magic") {
    Superblock sb = good;
    sb.magic[7] = '2';
    sb.checksum = checksum(&sb, offsetof(Superblock, checksum));
    std::string why = check_superblock(sb, l);
    CHECK(why.find("not a hypersls NVM file") != std::string::npos);
    CHECK(why.find("blank") == std::string::npos);
  }
  SUBCASE("a single wrong magic byte is foreign, not blank") {
    Superblock sb = good;
    sb.magic[0] = 'X';
    CHECK(check_superblock(sb, l).find("not a hypersls NVM file") != std::string::npos);
  }
  SUBCASE("any flipped byte after the magic: bad checksum") {
    const size_t first = sizeof good.magic, end = sizeof(Superblock);
    for (size_t at = first; at < end; ++at) {
      CAPTURE(at);
      Superblock sb = good;
      reinterpret_cast<uint8_t*>(&sb)[at] ^= 0x01;
      CHECK(check_superblock(sb, l).find("bad checksum") != std::string::npos);
    }
  }
  SUBCASE("memory size mismatch names both sizes") {
    Superblock sb = make_superblock(compute_layout(32 * MiB), 1, 42);
    std::string why = check_superblock(sb, l);
    CHECK(why.find("32 MiB") != std::string::npos);
    CHECK(why.find("16 MiB") != std::string::npos);
    CHECK(why.find("32 MiB") < why.find("16 MiB"));  // stored first, then the config's
    Superblock sb2 = make_superblock(compute_layout(1024 * MiB), 1, 42);
    std::string why2 = check_superblock(sb2, compute_layout(2048 * MiB));
    CHECK(why2.find("1024 MiB") != std::string::npos);
    CHECK(why2.find("2048 MiB") != std::string::npos);
  }
  SUBCASE("wrong format version") {
    Superblock sb = good;
    sb.format_version = kFormatVersion + 1;
    sb.checksum = checksum(&sb, offsetof(Superblock, checksum));
    std::string why = check_superblock(sb, l);
    CHECK(why.find("format version " + std::to_string(kFormatVersion + 1)) != std::string::npos);
    CHECK(why.find("reads " + std::to_string(kFormatVersion)) != std::string::npos);
  }
  SUBCASE("geometry mismatch with the same memory size") {
    Superblock sb = good;
    sb.ram += 2 * MiB;
    sb.checksum = checksum(&sb, offsetof(Superblock, checksum));
    CHECK(check_superblock(sb, l).find("geometry") != std::string::npos);
    Superblock sb2 = good;
    sb2.file_bytes -= kPage;
    sb2.checksum = checksum(&sb2, offsetof(Superblock, checksum));
    CHECK(check_superblock(sb2, l).find("geometry") != std::string::npos);
  }
  SUBCASE("vcpus and creation time are not part of the match") {
    Superblock sb = make_superblock(l, 8, 999);
    CHECK(check_superblock(sb, l) == "");
  }
}

TEST_CASE("nvm checksum: deterministic and sensitive to every byte and the length") {
  std::vector<uint8_t> buf(300);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = uint8_t(i * 7 + 3);
  uint64_t base = checksum(buf.data(), buf.size());
  CHECK(base == checksum(buf.data(), buf.size()));
  CHECK(base != checksum(buf.data(), buf.size() - 1));
  for (size_t i = 0; i < buf.size(); i += 37) {
    auto b = buf;
    b[i] ^= 0x80;
    CHECK(checksum(b.data(), b.size()) != base);
  }
}
