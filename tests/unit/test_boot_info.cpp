// PVH boot information (docs/boot-protocol.md): hvm_start_info at 0x5000,
// the memory map at 0x5040 and the command line at 0x6000, read back from a
// buffer-backed GuestMemory.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "tests/unit/sparse_ram.h"
#include "vmm/boot/pvh.h"
#include "vmm/core/config.h"
#include "vmm/core/error.h"
#include "vmm/core/guest_memory.h"

using namespace hsls;
using namespace hsls::boot;
using doctest::Contains;

namespace {

constexpr uint64_t kRam = 32ull << 20;

HvmStartInfo read_info(const GuestMemory& mem) {
  HvmStartInfo info{};
  REQUIRE(mem.read(kStartInfoAddr, &info, sizeof info));
  return info;
}

std::vector<HvmMemmapEntry> read_memmap(const GuestMemory& mem, const HvmStartInfo& info) {
  std::vector<HvmMemmapEntry> map(info.memmap_entries);
  REQUIRE(mem.read(info.memmap_paddr, map.data(), map.size() * sizeof(HvmMemmapEntry)));
  return map;
}

// The NUL-terminated string at gpa (at most `max` bytes before the NUL).
std::string read_cstring(const GuestMemory& mem, uint64_t gpa, size_t max = 8192) {
  std::string s;
  char c;
  while (s.size() <= max && mem.read(gpa + s.size(), &c, 1) && c) s.push_back(c);
  return s;
}

// Entries are sorted, do not overlap, and none touches [kLowMemEnd, 1 MiB).
void check_map_shape(const std::vector<HvmMemmapEntry>& map) {
  for (size_t i = 0; i < map.size(); ++i) {
    CAPTURE(i);
    CHECK(map[i].size > 0);
    CHECK(map[i].reserved == 0);
    CHECK((map[i].type == kE820Ram || map[i].type == kE820Reserved));
    if (i) CHECK(map[i - 1].addr + map[i - 1].size <= map[i].addr);
    bool in_legacy_hole = map[i].addr < 0x100000 && map[i].addr + map[i].size > kLowMemEnd;
    CHECK_FALSE(in_legacy_hole);
  }
}

}  // namespace

TEST_SUITE("boot_info") {

TEST_CASE("guest_cmdline appends cpus=N") {
  CHECK(guest_cmdline("", 1) == "cpus=1");
  CHECK(guest_cmdline("console=ttyS0 selftest", 4) == "console=ttyS0 selftest cpus=4");
  CHECK(guest_cmdline("cpus=2", 8) == "cpus=2 cpus=8");  // the guest takes the last value
}

TEST_CASE("write_boot_info: start info, memory map and command line at their addresses") {
  std::vector<uint8_t> buf(kRam, 0xaa);
  GuestMemory mem(buf.data(), buf.size());
  const std::string cmdline = "console=ttyS0 selftest cpus=2";
  write_boot_info(mem, cmdline);

  auto info = read_info(mem);
  CHECK(info.magic == 0x336ec578);
  CHECK(info.version == 1);
  CHECK(info.flags == 0);
  CHECK(info.nr_modules == 0);
  CHECK(info.modlist_paddr == 0);
  CHECK(info.rsdp_paddr == 0);
  CHECK(info.cmdline_paddr == 0x6000);
  CHECK(info.memmap_paddr == 0x5040);
  CHECK(info.reserved == 0);
  REQUIRE(info.memmap_entries == 4);

  auto map = read_memmap(mem, info);
  // [0, 0x5000) RAM, boot area reserved, [0x7000, 0x9fc00) RAM, [1 MiB, 32 MiB) RAM.
  CHECK(map[0].addr == 0);
  CHECK(map[0].size == 0x5000);
  CHECK(map[0].type == kE820Ram);
  CHECK(map[1].addr == 0x5000);
  CHECK(map[1].size == 0x2000);
  CHECK(map[1].type == kE820Reserved);
  CHECK(map[2].addr == 0x7000);
  CHECK(map[2].addr + map[2].size == 0x9fc00);
  CHECK(map[2].type == kE820Ram);
  CHECK(map[3].addr == 0x100000);
  CHECK(map[3].addr + map[3].size == kRam);
  CHECK(map[3].type == kE820Ram);
  check_map_shape(map);

  CHECK(read_cstring(mem, info.cmdline_paddr) == cmdline);

  // The rest of the boot area is zeroed; memory outside it is untouched.
  bool rest_zero = true;
  for (uint64_t a = 0x5040 + 4 * sizeof(HvmMemmapEntry); a < 0x6000; ++a) rest_zero = rest_zero && buf[a] == 0;
  for (uint64_t a = 0x6000 + cmdline.size(); a < 0x7000; ++a) rest_zero = rest_zero && buf[a] == 0;
  CHECK(rest_zero);
  CHECK(buf[sizeof(HvmStartInfo) + 0x5000] == 0);  // padding between start info and map
  CHECK(buf[0x4fff] == 0xaa);
  CHECK(buf[0x7000] == 0xaa);
  CHECK(buf[0x100000] == 0xaa);
}

TEST_CASE("write_boot_info: an empty command line is a lone NUL") {
  std::vector<uint8_t> buf(kRam, 0xaa);
  GuestMemory mem(buf.data(), buf.size());
  write_boot_info(mem, "");
  CHECK(buf[0x6000] == 0);
  CHECK(read_info(mem).magic == kStartInfoMagic);
}

TEST_CASE("write_boot_info: the command line may fill the area; one byte more is refused") {
  std::vector<uint8_t> buf(kRam, 0xaa);
  GuestMemory mem(buf.data(), buf.size());

  std::string longest(kCmdlineMax, 'c');
  write_boot_info(mem, longest);
  CHECK(read_cstring(mem, 0x6000) == longest);
  CHECK(buf[0x6fff] == 0);     // the NUL is the last byte of the boot area
  CHECK(buf[0x7000] == 0xaa);  // and nothing past it

  std::vector<uint8_t> fresh(kRam, 0xaa);
  GuestMemory mem2(fresh.data(), fresh.size());
  CHECK_THROWS_WITH_AS(write_boot_info(mem2, longest + "c"), Contains("guest.cmdline: 4096 bytes"), Error);
  CHECK_THROWS_WITH_AS(write_boot_info(mem2, longest + "c"), Contains("allowed: at most 4095"), Error);
  // Refused before anything was written.
  CHECK(fresh[0x5000] == 0xaa);
  CHECK(fresh[0x6000] == 0xaa);
}

TEST_CASE("the longest command line validate() accepts still fits with the appended keys") {
  Config c;
  c.image = "/x";
  c.vcpus = kMaxVcpus;
  c.cmdline = std::string(kMaxCmdline - 64, 'k');
  REQUIRE_NOTHROW(validate(c));
  std::vector<uint8_t> buf(kRam, 0);
  GuestMemory mem(buf.data(), buf.size());
  auto line = guest_cmdline(c.cmdline, c.vcpus);
  CHECK_NOTHROW(write_boot_info(mem, line));
  CHECK(read_cstring(mem, 0x6000) == line);
}

TEST_CASE("write_boot_info refuses memory that does not cover the boot area") {
  std::vector<uint8_t> buf(0x6000, 0);
  GuestMemory mem(buf.data(), buf.size());
  CHECK_THROWS_WITH_AS(write_boot_info(mem, "x"), Contains("does not cover the boot area"), Error);
}

TEST_CASE("memory_map: RAM above 3 GiB is listed as a second range at 4 GiB") {
  auto map = memory_map(layout_ram(6ull << 30));
  REQUIRE(map.size() == 5);
  CHECK(map[3].addr == 0x100000);
  CHECK(map[3].addr + map[3].size == 3ull << 30);
  CHECK(map[3].type == kE820Ram);
  CHECK(map[4].addr == 4ull << 30);
  CHECK(map[4].size == 3ull << 30);
  CHECK(map[4].type == kE820Ram);
  check_map_shape(map);

  // Exactly 3 GiB: no high range.
  CHECK(memory_map(layout_ram(3ull << 30)).size() == 4);
  // The RAM the map lists adds up to the RAM there is, minus the boot area and the legacy hole.
  uint64_t ram = 0;
  for (const auto& e : map)
    if (e.type == kE820Ram) ram += e.size;
  CHECK(ram == (6ull << 30) - (0x100000 - 0x9fc00) - 0x2000);
}

TEST_CASE("write_boot_info with more than 3 GiB of RAM writes the high range") {
  const uint64_t size = (3ull << 30) + (64ull << 20);
  hsls::test::SparseRam ram(size);
  REQUIRE(ram.ok());
  GuestMemory mem(ram.data(), size);
  write_boot_info(mem, "cpus=1");
  auto info = read_info(mem);
  REQUIRE(info.memmap_entries == 5);
  auto map = read_memmap(mem, info);
  CHECK(map[4].addr == kHighRamBase);
  CHECK(map[4].size == 64ull << 20);
  CHECK(map[4].type == kE820Ram);
  CHECK(map[3].addr + map[3].size == kLowRamLimit);
  check_map_shape(map);
}

}  // TEST_SUITE
