// The persistence API: writes land and are counted, power loss drops every
// later write, crash points are counted and an armed power failure fires at
// exactly the requested arrival, once.
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <iterator>
#include <vector>

#include "nvm/persist.h"

using namespace hsls::nvm;

namespace {

// A 64-byte aligned heap buffer standing in for NVM.
struct Buf {
  static constexpr size_t kSize = 16384;
  uint8_t* p;
  Buf() : p(static_cast<uint8_t*>(std::aligned_alloc(64, kSize))) { std::memset(p, 0xee, kSize); }
  ~Buf() { std::free(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
};

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 13);
  return v;
}

constexpr unsigned kPoints = unsigned(CrashPoint::kCount);

}  // namespace

TEST_CASE("nvm persist: copy, write and store64 write their bytes and count them") {
  for (bool adr : {false, true}) {
    CAPTURE(adr);
    Buf b;
    Persist p(adr);
    CHECK(p.adr() == adr);
    CHECK(p.bytes_written() == 0);
    CHECK_FALSE(p.power_lost());

    auto a = pattern(4096, 1);
    p.copy(b.p, a.data(), a.size());
    p.fence();
    CHECK(std::memcmp(b.p, a.data(), a.size()) == 0);
    CHECK(p.bytes_written() == 4096);

    auto w = pattern(100, 7);
    p.write(b.p + 4096 + 3, w.data(), w.size());  // unaligned
    p.persist(b.p + 4096 + 3, w.size());
    CHECK(std::memcmp(b.p + 4096 + 3, w.data(), w.size()) == 0);
    CHECK(b.p[4096 + 2] == 0xee);     // nothing before
    CHECK(b.p[4096 + 3 + 100] == 0xee);  // nothing after
    CHECK(p.bytes_written() == 4196);

    auto* word = reinterpret_cast<uint64_t*>(b.p + 8192);
    p.store64(word, 0x0123456789abcdefull);
    p.persist(word, 8);
    CHECK(*word == 0x0123456789abcdefull);
    CHECK(p.bytes_written() == 4204);

    // A small, odd-sized copy too.
    auto c = pattern(17, 99);
    p.copy(b.p + 12288 + 5, c.data(), c.size());
    p.fence();
    CHECK(std::memcmp(b.p + 12288 + 5, c.data(), c.size()) == 0);
    CHECK(p.bytes_written() == 4221);
  }
}

TEST_CASE("nvm persist: after lose_power() every write is dropped and not counted") {
  Buf b;
  Persist p(true);
  auto a = pattern(256, 3);
  p.write(b.p, a.data(), a.size());
  uint64_t before = p.bytes_written();
  p.lose_power();
  CHECK(p.power_lost());

  auto z = pattern(256, 200);
  p.write(b.p, z.data(), z.size());
  p.copy(b.p + 256, z.data(), z.size());
  p.store64(reinterpret_cast<uint64_t*>(b.p + 1024), 77);
  p.flush(b.p, 2048);
  p.fence();
  p.persist(b.p, 2048);
  CHECK(std::memcmp(b.p, a.data(), a.size()) == 0);
  for (size_t i = 256; i < 1032; ++i) REQUIRE(b.p[i] == 0xee);
  CHECK(p.bytes_written() == before);
  CHECK(p.power_lost());  // stays lost
}

TEST_CASE("nvm persist: crash points are counted per point") {
  Persist p(false);
  for (unsigned i = 0; i < kPoints; ++i) CHECK(p.count(CrashPoint(i)) == 0);
  for (unsigned i = 0; i < kPoints; ++i)
    for (unsigned k = 0; k <= i; ++k) p.point(CrashPoint(i));
  for (unsigned i = 0; i < kPoints; ++i) CHECK(p.count(CrashPoint(i)) == i + 1);
  CHECK_FALSE(p.power_lost());  // unarmed points do nothing else
}

TEST_CASE("nvm persist: arm fires exactly at the n-th arrival, once, and cuts the power") {
  for (unsigned nth : {1u, 2u, 5u}) {
    CAPTURE(nth);
    Persist p(false);
    Buf b;
    // Arrivals before arming do not count towards n.
    p.point(CrashPoint::backup_copied);
    p.point(CrashPoint::backup_copied);
    std::vector<CrashPoint> fired;
    p.arm(CrashPoint::backup_copied, nth, [&](CrashPoint cp) { fired.push_back(cp); });
    for (unsigned i = 1; i < nth; ++i) {
      p.point(CrashPoint::backup_copied);
      // Other points never fire it.
      p.point(CrashPoint::backup_tagged);
      p.point(CrashPoint::stopped);
      CHECK(fired.empty());
      CHECK_FALSE(p.power_lost());
    }
    uint64_t v = 5;
    p.write(b.p, &v, 8);  // still powered
    CHECK(*reinterpret_cast<uint64_t*>(b.p) == 5);

    p.point(CrashPoint::backup_copied);  // the n-th
    REQUIRE(fired.size() == 1);
    CHECK(fired[0] == CrashPoint::backup_copied);
    CHECK(p.power_lost());
    v = 6;
    p.write(b.p, &v, 8);
    CHECK(*reinterpret_cast<uint64_t*>(b.p) == 5);

    for (int i = 0; i < 10; ++i) p.point(CrashPoint::backup_copied);
    CHECK(fired.size() == 1);  // once
    CHECK(p.count(CrashPoint::backup_copied) == 2 + nth + 10);
  }
}

TEST_CASE("nvm persist: nth = 0 means the next arrival") {
  Persist p(false);
  int fired = 0;
  p.arm(CrashPoint::committed, 0, [&](CrashPoint) { ++fired; });
  p.point(CrashPoint::committed);
  CHECK(fired == 1);
  CHECK(p.power_lost());
}

TEST_CASE("nvm persist: a throwing callback propagates PowerFailure to the arriving thread") {
  Persist p(false);
  p.arm(CrashPoint::journal_written, 1, [](CrashPoint cp) { throw PowerFailure{cp}; });
  bool caught = false;
  try {
    p.point(CrashPoint::journal_written);
  } catch (const PowerFailure& f) {
    caught = true;
    CHECK(f.point == CrashPoint::journal_written);
  }
  CHECK(caught);
  CHECK(p.power_lost());
  CHECK(p.count(CrashPoint::journal_written) == 1);
  CHECK_NOTHROW(p.point(CrashPoint::journal_written));  // disarmed after firing
}

TEST_CASE("nvm persist: disarm and re-arm") {
  Persist p(false);
  int fired = 0;
  p.arm(CrashPoint::stopped, 1, [&](CrashPoint) { ++fired; });
  p.disarm();
  p.point(CrashPoint::stopped);
  CHECK(fired == 0);
  CHECK_FALSE(p.power_lost());

  // Re-arming replaces the previous point and callback.
  int other = 0;
  p.arm(CrashPoint::stopped, 1, [&](CrashPoint) { ++fired; });
  p.arm(CrashPoint::cow_tagged, 2, [&](CrashPoint) { ++other; });
  p.point(CrashPoint::stopped);
  p.point(CrashPoint::cow_tagged);
  CHECK(fired == 0);
  CHECK(other == 0);
  CHECK_FALSE(p.power_lost());
  p.point(CrashPoint::cow_tagged);
  CHECK(fired == 0);
  CHECK(other == 1);
  CHECK(p.power_lost());
}

TEST_CASE("nvm persist: an armed point with an empty callback still cuts the power") {
  Persist p(false);
  p.arm(CrashPoint::restored, 3, nullptr);
  p.point(CrashPoint::restored);
  p.point(CrashPoint::restored);
  CHECK_FALSE(p.power_lost());
  p.point(CrashPoint::restored);
  CHECK(p.power_lost());
}

TEST_CASE("nvm persist: crash point names round trip") {
  std::set<std::string> seen;
  for (unsigned i = 0; i < kPoints; ++i) {
    CrashPoint cp = CrashPoint(i);
    const char* name = crash_point_name(cp);
    REQUIRE(name != nullptr);
    CAPTURE(name);
    CHECK(std::string(name).size() > 0);
    CHECK(seen.insert(name).second);  // unique
    auto back = crash_point_from_name(name);
    REQUIRE(back.has_value());
    CHECK(*back == cp);
    CHECK(crash_point_names().find(name) != std::string::npos);
  }
  CHECK(seen.size() == kPoints);
  // The names are what the monitor accepts: pin them.
  const std::pair<CrashPoint, const char*> expected[] = {
      {CrashPoint::stopped, "stopped"},
      {CrashPoint::state_saved, "state-saved"},
      {CrashPoint::backup_copied, "backup-copied"},
      {CrashPoint::backup_tagged, "backup-tagged"},
      {CrashPoint::protected_pages, "protected"},
      {CrashPoint::journal_written, "journal-written"},
      {CrashPoint::committed, "committed"},
      {CrashPoint::cow_copied, "cow-copied"},
      {CrashPoint::cow_tagged, "cow-tagged"},
      {CrashPoint::restored, "restored"},
  };
  static_assert(std::size(expected) == kPoints);
  for (const auto& point : expected) {
    const std::string name = point.second;  // not a structured binding: CAPTURE's lambda takes it (clang 14)
    CAPTURE(name);
    CHECK(std::string(crash_point_name(point.first)) == name);
  }
  CHECK(crash_point_names() ==
        "stopped, state-saved, backup-copied, backup-tagged, protected, journal-written, committed, cow-copied, "
        "cow-tagged, restored");
  // In protocol order, comma-separated.
  std::string all = crash_point_names();
  CHECK(all.rfind("stopped, ", 0) == 0);
  CHECK(all.size() >= 9);
  CHECK(all.substr(all.size() - 8) == "restored");
}

TEST_CASE("nvm persist: unknown crash point names are refused") {
  for (std::string bad : {"", "nope", "Stopped", "journal_written", "stopped ", "restore", "committed,"}) {
    CAPTURE(bad);
    CHECK_FALSE(crash_point_from_name(bad).has_value());
  }
}

namespace {

// A file on tmpfs mapped shared: the mapping and the file are the same bytes.
struct MappedFile {
  static constexpr size_t kSize = 4 * 4096;
  int fd = -1;
  uint8_t* p = nullptr;
  MappedFile() {
    char name[] = "/dev/shm/hsls-unit-persist-XXXXXX";
    fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    ::unlink(name);
    REQUIRE(::ftruncate(fd, kSize) == 0);
    void* m = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(m != MAP_FAILED);
    p = static_cast<uint8_t*>(m);
  }
  ~MappedFile() {
    ::munmap(p, kSize);
    ::close(fd);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  // The bytes at `off` as the file holds them (not through the mapping).
  std::vector<uint8_t> read_file(size_t off, size_t n) const {
    std::vector<uint8_t> v(n);
    REQUIRE(::pread(fd, v.data(), n, off_t(off)) == ssize_t(n));
    return v;
  }
};

}  // namespace

TEST_CASE("copy_in_file copies a page through the attached file, counts it, and drops it once power is lost") {
  MappedFile f;
  auto page = pattern(4096, 7);
  std::memcpy(f.p + 3 * 4096, page.data(), 4096);
  Persist p(false);
  p.attach_file(f.fd, f.p, MappedFile::kSize);
  p.copy_in_file(f.p + 4096, f.p + 3 * 4096, 4096);
  CHECK(f.read_file(4096, 4096) == page);
  CHECK(std::memcmp(f.p + 4096, page.data(), 4096) == 0);  // the mapping sees it
  CHECK(p.bytes_written() == 4096);
  auto other = pattern(4096, 99);
  std::memcpy(f.p + 2 * 4096, other.data(), 4096);
  p.lose_power();
  p.copy_in_file(f.p + 4096, f.p + 2 * 4096, 4096);
  CHECK(f.read_file(4096, 4096) == page);
  CHECK(p.bytes_written() == 4096);
}

TEST_CASE("copy_in_file outside the attached file, or with none attached, copies through memory") {
  Buf a, b;
  auto bytes = pattern(4096, 3);
  std::memcpy(b.p, bytes.data(), 4096);
  Persist p(true);
  p.copy_in_file(a.p, b.p, 4096);
  p.fence();
  CHECK(std::memcmp(a.p, bytes.data(), 4096) == 0);
  MappedFile f;
  p.attach_file(f.fd, f.p, MappedFile::kSize);
  auto more = pattern(4096, 5);
  std::memcpy(b.p + 4096, more.data(), 4096);
  p.copy_in_file(f.p, b.p + 4096, 4096);  // the source is not in the file
  p.fence();
  CHECK(f.read_file(0, 4096) == more);
  CHECK(p.bytes_written() == 2 * 4096);
}

TEST_CASE("read goes through the attached file, and through memory with none attached or the unfenced model on") {
  MappedFile f;
  auto in_file = pattern(4096, 21);
  REQUIRE(::pwrite(f.fd, in_file.data(), 4096, 4096) == 4096);
  // A buffer that stands for the mapping but holds other bytes: what read()
  // returns shows which way it went.
  Buf shown;
  auto in_memory = pattern(4096, 77);
  std::memcpy(shown.p + 4096, in_memory.data(), 4096);
  std::vector<uint8_t> out(4096);

  Persist p(false);
  p.read(out.data(), shown.p + 4096, 4096);
  CHECK(out == in_memory);  // no file attached

  p.attach_file(f.fd, shown.p, MappedFile::kSize);
  p.read(out.data(), shown.p + 4096, 4096);
  CHECK(out == in_file);
  p.read(out.data(), shown.p + 4096 + 100, 200);  // any offset and length
  CHECK(std::equal(out.begin(), out.begin() + 200, in_file.begin() + 100));
  CHECK(p.bytes_written() == 0);  // a read writes nothing

  p.track_unfenced(1);
  p.read(out.data(), shown.p + 4096, 4096);
  CHECK(out == in_memory);  // the model's view is the mapping's
}

TEST_CASE("read of a range that runs past the attached file reads memory") {
  MappedFile f;
  Buf shown;
  auto in_memory = pattern(4096, 9);
  std::memcpy(shown.p + 3 * 4096, in_memory.data(), 4096);
  Persist p(false);
  p.attach_file(f.fd, shown.p, 3 * 4096);  // the buffer's last page is outside
  std::vector<uint8_t> out(4096);
  p.read(out.data(), shown.p + 3 * 4096, 4096);
  CHECK(out == in_memory);
}
