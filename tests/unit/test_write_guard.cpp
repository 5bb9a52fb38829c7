// The write guard (copy-on-write in the VMM's write paths): a guarded page
// is backed up before a write lands, exactly once, with its pre-write
// bytes; unguarded pages and refused backups.
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <vector>

#include "vmm/core/guest_memory.h"
#include "vmm/core/write_guard.h"

using namespace hsls;

namespace {

// 16 pages of RAM and a guard whose backup keeps a copy of the page as it
// was, then unguards it (what the checkpointer does, without NVM).
struct Rig {
  std::vector<uint8_t> ram = std::vector<uint8_t>(16 * kPageSize, 0xaa);
  GuestMemory mem{ram.data(), ram.size()};
  std::map<uint64_t, std::vector<uint8_t>> backups;
  bool refuse = false;
  WriteGuard guard{16, [this](uint64_t page) {
                     if (refuse) return false;
                     const uint8_t* p = ram.data() + page * kPageSize;
                     backups[page].assign(p, p + kPageSize);
                     guard.unguard(page, 1);
                     return true;
                   }};
  Rig() { mem.set_write_guard(&guard); }
};

}  // namespace

TEST_SUITE("write_guard") {

TEST_CASE("guard/unguard: ranges across word boundaries") {
  WriteGuard g(200, [](uint64_t) { return true; });
  g.guard(60, 80);  // pages 60..139: three words
  for (uint64_t p = 0; p < 200; ++p) {
    CAPTURE(p);
    CHECK(g.guarded(p) == (p >= 60 && p < 140));
  }
  g.unguard(64, 64);
  for (uint64_t p = 0; p < 200; ++p) {
    CAPTURE(p);
    CHECK(g.guarded(p) == ((p >= 60 && p < 64) || (p >= 128 && p < 140)));
  }
  g.guard(0, 1000);  // clipped to the guard's pages
  CHECK(g.guarded(199));
  CHECK_FALSE(g.guarded(200));
}

TEST_CASE("a write to a guarded page backs up its pre-write bytes first, once") {
  Rig r;
  r.guard.guard(3, 1);
  uint32_t v = 0x12345678;
  REQUIRE(r.mem.write(3 * kPageSize + 100, &v, sizeof v));
  REQUIRE(r.backups.count(3) == 1);
  CHECK(r.backups[3] == std::vector<uint8_t>(kPageSize, 0xaa));  // before the store
  uint32_t got;
  std::memcpy(&got, r.ram.data() + 3 * kPageSize + 100, 4);
  CHECK(got == v);  // and then the store landed
  CHECK_FALSE(r.guard.guarded(3));
  // The next write finds the page unguarded: no second backup of newer bytes.
  v = 0x9abcdef0;
  REQUIRE(r.mem.write(3 * kPageSize + 100, &v, sizeof v));
  CHECK(r.backups[3] == std::vector<uint8_t>(kPageSize, 0xaa));
  CHECK(r.backups.size() == 1);
}

TEST_CASE("a write straddling two guarded pages backs up both; unguarded pages are not asked") {
  Rig r;
  r.guard.guard(5, 2);
  uint64_t v = ~0ull;
  REQUIRE(r.mem.write(6 * kPageSize - 4, &v, sizeof v));
  CHECK(r.backups.count(5) == 1);
  CHECK(r.backups.count(6) == 1);
  REQUIRE(r.mem.write(8 * kPageSize, &v, sizeof v));  // page 8 is not guarded
  CHECK(r.backups.size() == 2);
  CHECK(r.mem.before_write(10 * kPageSize, kPageSize * 3));
  CHECK(r.backups.size() == 2);
}

TEST_CASE("a refused backup keeps the write from landing") {
  Rig r;
  r.guard.guard(2, 1);
  r.refuse = true;
  uint32_t v = 0;
  CHECK_FALSE(r.mem.write(2 * kPageSize, &v, sizeof v));
  CHECK(r.ram[2 * kPageSize] == 0xaa);
  CHECK(r.guard.guarded(2));
  CHECK_FALSE(r.mem.before_write(2 * kPageSize + 8, 1));
}

TEST_CASE("without a guard every write goes through") {
  std::vector<uint8_t> ram(4 * kPageSize, 0);
  GuestMemory mem(ram.data(), ram.size());
  uint8_t b = 7;
  CHECK(mem.write(kPageSize, &b, 1));
  CHECK(ram[kPageSize] == 7);
  CHECK(mem.before_write(0, 4 * kPageSize));
}

}  // TEST_SUITE
