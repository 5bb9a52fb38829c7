// The software 8254 (channel 0) and port 0x61 on a fake clock: the guest's
// calibration sequence, the counting modes, latches and read-back,
// save/restore.
#include <doctest/doctest.h>

#include "vmm/core/error.h"
#include "vmm/platform/pit.h"

using namespace hsls;
using namespace hsls::platform;
using doctest::Contains;

namespace {

constexpr uint64_t kStart = 3'000'000'000;

// The first clock time (ns after a load) at which `ticks` input clocks have passed.
constexpr uint64_t ns_for(uint64_t ticks) { return (ticks * 1'000'000'000 + Pit::kHz - 1) / Pit::kHz; }

struct Timer {
  uint64_t now = kStart;
  Pit pit{[this] { return now; }};

  // The guest's Pit::count(): latch, then low and high byte.
  uint16_t latched() {
    pit.write(0x43, 0x00);
    uint8_t lo = pit.read(0x40);
    uint8_t hi = pit.read(0x40);
    return uint16_t(lo | hi << 8);
  }
  // Programs channel 0 with a control word and a 16-bit count (lo, hi).
  void program(uint8_t control, uint16_t count) {
    pit.write(0x43, control);
    pit.write(0x40, uint8_t(count));
    pit.write(0x40, uint8_t(count >> 8));
  }
};

}  // namespace

TEST_SUITE("platform-pit") {

TEST_CASE("the guest's calibration: mode 2, reload 65536, latched reads") {
  Timer t;
  t.program(0x34, 0);
  CHECK(t.latched() == 0);  // 65536 reads as 0
  t.now = kStart + 1'000'000;  // 1 ms: 1193 clocks
  CHECK(t.latched() == 65536 - 1193);
  t.now = kStart + 10'000'000;  // 10 ms: 11931 clocks
  CHECK(t.latched() == 65536 - 11931);
  t.now = kStart + 50'000'000;  // 59659 clocks
  CHECK(t.latched() == 65536 - 59659);
  t.now = kStart + 60'000'000;  // 71590 clocks: wrapped once
  CHECK(t.latched() == 65536 - (71590 - 65536));
  t.now = kStart + 2'000'000'000;  // 2 s: 2386364 clocks
  CHECK(t.latched() == 65536 - 2386364 % 65536);
}

TEST_CASE("bytes at exact clocks, and a latch holds its value") {
  Timer t;
  t.program(0x34, 1000);
  t.now = kStart + ns_for(1) - 1;
  CHECK(t.latched() == 1000);
  t.now = kStart + ns_for(1);
  CHECK(t.latched() == 999);
  t.now = kStart + ns_for(999);
  CHECK(t.latched() == 1);
  t.now = kStart + ns_for(1000);  // reload
  CHECK(t.latched() == 1000);
  t.now = kStart + ns_for(1250);
  t.pit.write(0x43, 0x00);
  t.pit.write(0x43, 0x00);  // a second latch before reading changes nothing
  t.now = kStart + ns_for(1400);
  CHECK(t.pit.read(0x40) == uint8_t(750));
  t.now = kStart + ns_for(1500);
  CHECK(t.pit.read(0x40) == 750 >> 8);
  // The latch is consumed: live reads now (lo, then hi).
  CHECK(t.pit.read(0x40) == uint8_t(500));
  CHECK(t.pit.read(0x40) == 500 >> 8);
}

TEST_CASE("mode 0: the guest's stop sequence counts down and wraps") {
  Timer t;
  t.program(0x34, 0);
  t.now = kStart + 12345;
  t.program(0x30, 1);  // mode 0, count 1
  uint64_t load = t.now;
  CHECK(t.latched() == 1);
  t.pit.write(0x43, 0xe2);  // read-back: status of channel 0
  CHECK(t.pit.read(0x40) == 0x30);  // OUT low, lo/hi, mode 0, binary
  t.now = load + ns_for(1);
  CHECK(t.latched() == 0);
  t.pit.write(0x43, 0xe2);
  CHECK(t.pit.read(0x40) == 0xb0);  // OUT high at terminal count
  t.now = load + ns_for(2);
  CHECK(t.latched() == 0xffff);
  t.pit.write(0x43, 0xe2);
  CHECK(t.pit.read(0x40) == 0xb0);  // and stays high
}

TEST_CASE("mode 3 counts by twos") {
  Timer t;
  t.program(0x36, 10);  // even
  uint16_t even[] = {10, 8, 6, 4, 2, 10, 8, 6, 4, 2, 10};
  for (unsigned i = 0; i < 11; ++i) {
    CAPTURE(i);
    t.now = kStart + ns_for(i);
    CHECK(t.latched() == even[i]);
  }
  t.program(0x36, 5);  // odd: 3 clocks high, 2 low
  uint64_t load = t.now;
  uint16_t odd[] = {5, 4, 2, 5, 2, 5, 4};
  bool out[] = {true, true, true, false, false, true, true};
  for (unsigned i = 0; i < 7; ++i) {
    CAPTURE(i);
    t.now = load + ns_for(i);
    CHECK(t.latched() == odd[i]);
    t.pit.write(0x43, 0xe2);
    CHECK(bool(t.pit.read(0x40) & 0x80) == out[i]);
  }
}

TEST_CASE("read-back: status first, then the count") {
  Timer t;
  t.program(0x34, 1000);
  t.now = kStart + ns_for(10);
  t.pit.write(0x43, 0xc2);  // latch count and status of channel 0
  t.now = kStart + ns_for(20);
  CHECK(t.pit.read(0x40) == 0xb4);  // OUT high, lo/hi, mode 2, binary
  CHECK(t.pit.read(0x40) == uint8_t(990));
  CHECK(t.pit.read(0x40) == 990 >> 8);
  t.pit.write(0x43, 0xc4);  // channel 1 only: ignored
  CHECK(t.pit.read(0x40) == uint8_t(980));
  // Mode 2's OUT goes low for the clock at count 1.
  t.now = kStart + ns_for(999);
  t.pit.write(0x43, 0xe2);
  CHECK(t.pit.read(0x40) == 0x34);
}

TEST_CASE("lobyte-only and hibyte-only access, BCD, control words 6 and 7") {
  Timer t;
  t.pit.write(0x43, 0x14);  // lobyte, mode 2
  t.pit.write(0x40, 100);
  t.now = kStart + ns_for(30);
  CHECK(t.pit.read(0x40) == 70);
  CHECK(t.pit.read(0x40) == 70);
  t.pit.write(0x43, 0x24);  // hibyte, mode 2
  t.pit.write(0x40, 2);     // 512
  uint64_t load = t.now;
  t.now = load + ns_for(256);
  CHECK(t.pit.read(0x40) == 1);
  t.pit.write(0x43, 0x35);  // lo/hi, mode 2, BCD
  t.pit.write(0x40, 0x00);
  t.pit.write(0x40, 0x10);  // 1000 decimal
  load = t.now;
  t.now = load + ns_for(1);
  CHECK(t.latched() == 0x0999);
  t.now = load + ns_for(1000 + 1);
  CHECK(t.latched() == 0x0999);
  t.pit.write(0x43, 0x3c);  // mode "6" is mode 2
  CHECK(t.pit.save().mode == 2);
  t.pit.write(0x43, 0x3e);  // mode "7" is mode 3
  CHECK(t.pit.save().mode == 3);
  t.pit.write(0x43, 0x74);  // channel 1: ignored
  CHECK(t.pit.save().mode == 3);
}

TEST_CASE("port 0x61 and the ports owned") {
  Timer t;
  t.now = 0;
  CHECK(t.pit.read(0x61) == 0x01);
  t.pit.write(0x61, 0xff);
  CHECK(t.pit.read(0x61) == 0x0f);  // channel 2 OUT (bit 5) reads 0
  t.now = 15085;  // the refresh toggle
  CHECK(t.pit.read(0x61) == 0x1f);
  t.now = 2 * 15085;
  CHECK(t.pit.read(0x61) == 0x0f);
  t.pit.write(0x61, 0x02);
  CHECK(t.pit.read(0x61) == 0x02);
  CHECK(Pit::owns(0x40));
  CHECK(Pit::owns(0x43));
  CHECK(Pit::owns(0x61));
  CHECK_FALSE(Pit::owns(0x41));
  CHECK_FALSE(Pit::owns(0x42));
  CHECK(t.pit.read(0x43) == 0xff);
}

TEST_CASE("save/restore: the count re-based on a later clock") {
  Timer a;
  a.program(0x34, 0);
  a.now = kStart + 1'000'000;
  uint16_t at_1ms = a.latched();
  PitState s = a.pit.save();
  CHECK(s.elapsed_ns == 1'000'000);
  CHECK(s.reload == 0);
  CHECK(s.mode == 2);
  CHECK(s.access == 3);

  Timer b;
  b.now = 900'000'000'000;
  b.pit.restore(s);
  CHECK(b.latched() == at_1ms);
  b.now += 1'000'000;
  a.now += 1'000'000;
  CHECK(b.latched() == a.latched());

  // In the middle of reading a latched count, and of writing a count.
  a.pit.write(0x43, 0x00);
  a.pit.read(0x40);  // the low byte
  a.pit.write(0x43, 0x34);
  a.pit.write(0x40, 0x34);
  s = a.pit.save();
  CHECK(s.write_hi_next == 1);
  CHECK(s.write_lo == 0x34);
  b.pit.restore(s);
  b.pit.write(0x40, 0x12);
  CHECK(b.latched() == 0x1234);
  a.pit.write(0x43, 0x00);
  a.pit.read(0x40);
  s = a.pit.save();
  CHECK(s.latched == 1);
  CHECK(s.read_hi_next == 1);
  b.pit.restore(s);
  b.now += 5'000'000;
  CHECK(b.pit.read(0x40) == a.pit.read(0x40));
}

TEST_CASE("restore refuses bad states") {
  Timer t;
  PitState good = t.pit.save();
  PitState s = good;
  s.version = 3;
  CHECK_THROWS_WITH_AS(t.pit.restore(s), Contains("version 3"), Error);
  s = good;
  s.mode = 6;
  CHECK_THROWS_WITH_AS(t.pit.restore(s), Contains("mode 6"), Error);
  s = good;
  s.access = 0;
  CHECK_THROWS_WITH_AS(t.pit.restore(s), Contains("access mode 0"), Error);
  s = good;
  s.gate = 0x10;
  CHECK_THROWS_WITH_AS(t.pit.restore(s), Contains("0x61"), Error);
  s = good;
  s.latched = 4;
  CHECK_THROWS_WITH_AS(t.pit.restore(s), Contains("latch"), Error);
}

}  // TEST_SUITE
