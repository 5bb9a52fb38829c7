// Bus: non-overlapping ranges, lookups with offsets; the power-off port.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "vmm/core/error.h"
#include "vmm/devices/bus.h"
#include "vmm/devices/poweroff.h"

using namespace hsls;
using doctest::Contains;

namespace {

struct NamedDevice : Device {
  std::string n;
  explicit NamedDevice(std::string name) : n(std::move(name)) {}
  std::string_view name() const override { return n; }
  void read(uint64_t, uint8_t* data, unsigned len) override { std::fill(data, data + len, uint8_t(0)); }
  void write(uint64_t, const uint8_t*, unsigned) override {}
};

}  // namespace

TEST_SUITE("bus") {

TEST_CASE("find returns the owner and the offset inside its range") {
  Bus bus;
  NamedDevice a("a"), b("b");
  bus.add(0x3f8, 8, &a);
  bus.add(0xf4, 4, &b);
  uint64_t off = 99;
  CHECK(bus.find(0x3f8, 1, off) == &a);
  CHECK(off == 0);
  CHECK(bus.find(0x3fd, 1, off) == &a);
  CHECK(off == 5);
  CHECK(bus.find(0x3fc, 4, off) == &a);  // last 4 bytes
  CHECK(off == 4);
  CHECK(bus.find(0xf4, 4, off) == &b);
  CHECK(off == 0);
  CHECK(bus.find(0xf7, 1, off) == &b);
  CHECK(off == 3);
}

TEST_CASE("find returns null outside every range or across a range's end") {
  Bus bus;
  NamedDevice a("a");
  uint64_t unused = 0;
  CHECK(bus.find(0, 1, unused) == nullptr);  // empty bus
  bus.add(0x100, 0x10, &a);
  uint64_t off = 77;
  CHECK(bus.find(0xff, 1, off) == nullptr);
  CHECK(bus.find(0x110, 1, off) == nullptr);
  CHECK(bus.find(0x10f, 2, off) == nullptr);  // straddles the end
  CHECK(bus.find(0x0, 1, off) == nullptr);
  CHECK(bus.find(~0ull, 8, off) == nullptr);
  CHECK(off == 77);  // untouched on a miss
}

TEST_CASE("overlapping ranges are refused, naming both devices; adjacent ones are fine") {
  Bus bus;
  NamedDevice serial("serial"), other("other"), next("next"), before("before");
  bus.add(0x3f8, 8, &serial);
  CHECK_THROWS_WITH_AS(bus.add(0x3ff, 1, &other), Contains("other overlaps serial"), Error);
  CHECK_THROWS_WITH_AS(bus.add(0x3f0, 9, &other), Contains("overlaps serial"), Error);
  CHECK_THROWS_WITH_AS(bus.add(0x3fa, 2, &other), Contains("overlaps serial"), Error);  // inside
  CHECK_THROWS_WITH_AS(bus.add(0x300, 0x200, &other), Contains("overlaps serial"), Error);  // around
  CHECK_THROWS_AS(bus.add(0x3f8, 8, &other), Error);  // same range
  // A refused device was not registered.
  uint64_t off;
  CHECK(bus.find(0x3fa, 1, off) == &serial);
  CHECK(bus.find(0x3f0, 1, off) == nullptr);

  CHECK_NOTHROW(bus.add(0x400, 8, &next));   // starts at serial's end
  CHECK_NOTHROW(bus.add(0x3f0, 8, &before));  // ends at serial's start
  CHECK(bus.find(0x400, 1, off) == &next);
  CHECK(bus.find(0x3f7, 1, off) == &before);
  CHECK(bus.find(0x3f8, 1, off) == &serial);
}

TEST_CASE("power-off port: a write at offset 0 reports the low byte; reads are all ones") {
  std::vector<int> codes;
  PowerOff p([&](int code) { codes.push_back(code); });
  CHECK(p.name() == "poweroff");
  uint8_t v4[4] = {0x34, 0x12, 0, 0};
  p.write(0, v4, 4);
  REQUIRE(codes.size() == 1);
  CHECK(codes[0] == 0x34);
  uint8_t one = 1;
  p.write(1, &one, 1);  // not the first byte: ignored
  CHECK(codes.size() == 1);
  uint8_t zero = 0;
  p.write(0, &zero, 1);
  REQUIRE(codes.size() == 2);
  CHECK(codes[1] == 0);
  uint8_t r[2] = {0, 0};
  p.read(0, r, 2);
  CHECK(r[0] == 0xff);
  CHECK(r[1] == 0xff);
}

}  // TEST_SUITE
