// layout_ram and GuestMemory's bounds-checked access.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/sparse_ram.h"
#include "vmm/core/guest_memory.h"

using namespace hsls;
using hsls::test::SparseRam;

TEST_SUITE("guest_memory") {

TEST_CASE("layout_ram: up to 3 GiB is one range at 0") {
  for (uint64_t size : {16ull << 20, 256ull << 20, 3ull << 30}) {
    CAPTURE(size);
    auto r = layout_ram(size);
    REQUIRE(r.size() == 1);
    CHECK(r[0].gpa == 0);
    CHECK(r[0].size == size);
    CHECK(r[0].host_offset == 0);
  }
}

TEST_CASE("layout_ram: above 3 GiB the rest goes to 4 GiB") {
  auto r = layout_ram(8ull << 30);
  REQUIRE(r.size() == 2);
  CHECK(r[0].gpa == 0);
  CHECK(r[0].size == 3ull << 30);
  CHECK(r[0].host_offset == 0);
  CHECK(r[1].gpa == 4ull << 30);
  CHECK(r[1].size == 5ull << 30);
  CHECK(r[1].host_offset == 3ull << 30);

  auto just_over = layout_ram((3ull << 30) + (2ull << 20));
  REQUIRE(just_over.size() == 2);
  CHECK(just_over[1].gpa == kHighRamBase);
  CHECK(just_over[1].size == 2ull << 20);
  // The ranges together hold every byte exactly once.
  CHECK(just_over[0].size + just_over[1].size == (3ull << 30) + (2ull << 20));
}

TEST_CASE("GuestMemory: read/write/host/contains inside one low range") {
  std::vector<uint8_t> buf(1 << 20, 0);
  GuestMemory mem(buf.data(), buf.size());
  CHECK(mem.size() == buf.size());
  CHECK(mem.host_base() == buf.data());
  REQUIRE(mem.ranges().size() == 1);

  const char msg[] = "hello guest";
  REQUIRE(mem.write(0x1234, msg, sizeof msg));
  CHECK(std::memcmp(buf.data() + 0x1234, msg, sizeof msg) == 0);
  char back[sizeof msg] = {};
  REQUIRE(mem.read(0x1234, back, sizeof back));
  CHECK(std::string(back) == "hello guest");

  CHECK(mem.host(0, 1) == buf.data());
  CHECK(mem.host(0x1234, 4) == buf.data() + 0x1234);
  CHECK(mem.host(buf.size() - 4, 4) == buf.data() + buf.size() - 4);
  CHECK(mem.contains(0, buf.size()));
  CHECK(mem.contains(buf.size() - 1, 1));
}

TEST_CASE("GuestMemory: accesses past the end of RAM are refused and copy nothing") {
  std::vector<uint8_t> buf(1 << 20, 0x55);
  GuestMemory mem(buf.data(), buf.size());
  uint8_t out[8];
  std::memset(out, 0xee, sizeof out);
  CHECK_FALSE(mem.read(buf.size() - 4, out, 8));  // straddles the end
  CHECK(out[0] == 0xee);
  CHECK_FALSE(mem.read(buf.size(), out, 1));
  CHECK_FALSE(mem.contains(0, buf.size() + 1));
  CHECK_FALSE(mem.contains(buf.size(), 1));
  CHECK(mem.host(buf.size() + 4096, 1) == nullptr);

  uint8_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  CHECK_FALSE(mem.write(buf.size() - 4, in, 8));
  CHECK(buf[buf.size() - 1] == 0x55);  // nothing partially written

  // Arithmetic that would wrap around 2^64 is refused, not wrapped.
  CHECK(mem.host(~0ull, 2) == nullptr);
  CHECK(mem.host(~0ull - 1, 4) == nullptr);
  CHECK(mem.host(16, ~0ull) == nullptr);
  CHECK(mem.host(16, ~0ull - 8) == nullptr);
}

TEST_CASE("GuestMemory: high RAM at 4 GiB maps to the host after the low 3 GiB; the hole is not RAM") {
  const uint64_t size = (3ull << 30) + (16ull << 20);
  SparseRam ram(size);
  REQUIRE(ram.ok());
  GuestMemory mem(ram.data(), size);
  REQUIRE(mem.ranges().size() == 2);

  uint32_t v = 0xcafef00d;
  REQUIRE(mem.write(kHighRamBase + 0x10, &v, sizeof v));
  uint32_t at_host;
  std::memcpy(&at_host, ram.data() + kLowRamLimit + 0x10, sizeof at_host);
  CHECK(at_host == 0xcafef00d);
  CHECK(mem.host(kHighRamBase, 1) == ram.data() + kLowRamLimit);
  CHECK(mem.contains(kHighRamBase + (16ull << 20) - 1, 1));
  CHECK_FALSE(mem.contains(kHighRamBase + (16ull << 20), 1));

  // The device hole [3 GiB, 4 GiB) is not RAM; nor is an access spanning into it.
  CHECK_FALSE(mem.contains(kLowRamLimit, 1));
  CHECK_FALSE(mem.contains(kHighRamBase - 1, 1));
  CHECK_FALSE(mem.contains(kLowRamLimit - 2, 4));
  CHECK_FALSE(mem.contains(kHighRamBase - 2, 4));
  CHECK(mem.contains(kLowRamLimit - 4, 4));
  uint32_t out = 0;
  CHECK_FALSE(mem.read(0xfee00000, &out, 4));  // LAPIC
}

}  // TEST_SUITE
