// The software IOAPIC: its registers through IOREGSEL/IOWIN, edge and level
// delivery, remote IRR and EOI, masking, save/restore.
#include <doctest/doctest.h>

#include <vector>

#include "vmm/core/error.h"
#include "vmm/platform/ioapic.h"

using namespace hsls;
using namespace hsls::platform;
using doctest::Contains;

namespace {

struct Message {
  uint8_t dest;
  bool logical;
  uint8_t vector;
  bool level;
  uint8_t mode;
  bool operator==(const Message&) const = default;
};

// Records the messages the IOAPIC sends.
struct FakeSink : InterruptSink {
  std::vector<Message> sent;
  void deliver(uint8_t dest, bool logical, uint8_t vector, bool level, uint8_t delivery_mode) override {
    sent.push_back({dest, logical, vector, level, delivery_mode});
  }
};

constexpr uint32_t kLevel = 1u << 15, kMasked = 1u << 16, kRemoteIrr = 1u << 14;

struct Chip {
  FakeSink sink;
  Ioapic io{sink};
  uint32_t reg(uint32_t index) {
    io.write(Ioapic::kIoregsel, index);
    return io.read(Ioapic::kIowin);
  }
  void set(uint32_t index, uint32_t value) {
    io.write(Ioapic::kIoregsel, index);
    io.write(Ioapic::kIowin, value);
  }
  bool remote_irr(unsigned pin) { return reg(0x10 + 2 * pin) & kRemoteIrr; }
  // Programs `pin`: low word, then destination.
  void route(unsigned pin, uint32_t low, uint8_t dest) {
    set(0x11 + 2 * pin, uint32_t(dest) << 24);
    set(0x10 + 2 * pin, low);
  }
};

}  // namespace

TEST_SUITE("platform-ioapic") {

TEST_CASE("ID, version, arbitration, reset entries") {
  Chip c;
  CHECK(c.reg(1) == 0x00170011);
  CHECK(c.reg(0) == 0);
  c.set(0, 0xffffffff);
  CHECK(c.reg(0) == 0x0f000000);
  CHECK(c.reg(2) == 0x0f000000);
  c.set(1, 0);  // read-only
  CHECK(c.reg(1) == 0x00170011);
  for (unsigned pin = 0; pin < 24; ++pin) {
    CHECK(c.reg(0x10 + 2 * pin) == kMasked);
    CHECK(c.reg(0x11 + 2 * pin) == 0);
  }
  CHECK(c.reg(0x40) == 0);  // past the table
  c.io.write(Ioapic::kIoregsel, 0x1234);
  CHECK(c.io.read(Ioapic::kIoregsel) == 0x34);
  CHECK(c.io.read(0x20) == 0);
}

TEST_CASE("redirection entries read back, read-only bits preserved") {
  Chip c;
  c.route(3, kLevel | 0x800 | 0x133, 0x0a);  // level, logical, lowest priority, vector 0x33
  CHECK(c.reg(0x16) == (kLevel | 0x800 | 0x133));
  CHECK(c.reg(0x17) == 0x0a000000);
  c.io.set_irq(3, true);
  CHECK(c.reg(0x16) == (kLevel | kRemoteIrr | 0x800 | 0x133));
  // Writes cannot set delivery status or clear remote IRR.
  c.set(0x16, kLevel | 0x1000 | 0x133);
  CHECK(c.reg(0x16) == (kLevel | kRemoteIrr | 0x133));
  // Reserved bits read back as written; the high word is all the guest's.
  c.set(0x17, 0xff00ff00);
  CHECK(c.reg(0x17) == 0xff00ff00);
  // Switching to edge clears remote IRR.
  c.set(0x16, 0x133);
  CHECK(c.reg(0x16) == 0x133);
}

TEST_CASE("edge-triggered pins deliver on a rising edge") {
  Chip c;
  c.route(1, 0x41, 2);
  c.io.set_irq(1, true);
  REQUIRE(c.sink.sent.size() == 1);
  CHECK(c.sink.sent[0] == Message{2, false, 0x41, false, 0});
  c.io.set_irq(1, true);  // still high: no edge
  CHECK(c.sink.sent.size() == 1);
  c.io.set_irq(1, false);
  CHECK(c.sink.sent.size() == 1);
  c.io.set_irq(1, true);
  CHECK(c.sink.sent.size() == 2);
  CHECK(c.reg(0x12) == 0x41);  // no remote IRR for edge entries
  c.io.eoi(0x41);
  CHECK(c.sink.sent.size() == 2);
}

TEST_CASE("masked edges are lost") {
  Chip c;
  c.route(4, kMasked | 0x44, 0);
  c.io.set_irq(4, true);
  CHECK(c.sink.sent.empty());
  c.set(0x18, 0x44);  // unmask while high: the edge is gone
  CHECK(c.sink.sent.empty());
  c.io.set_irq(4, false);
  c.io.set_irq(4, true);
  CHECK(c.sink.sent.size() == 1);
}

TEST_CASE("level-triggered pins: remote IRR, EOI and re-delivery") {
  Chip c;
  c.route(9, kLevel | 0x59, 1);
  c.io.set_irq(9, true);
  REQUIRE(c.sink.sent.size() == 1);
  CHECK(c.sink.sent[0] == Message{1, false, 0x59, true, 0});
  c.io.set_irq(9, true);  // remote IRR set: no second message
  CHECK(c.sink.sent.size() == 1);
  c.io.eoi(0x58);  // another vector: nothing
  CHECK(c.remote_irr(9));
  c.io.eoi(0x59);  // still asserted: delivers again
  CHECK(c.sink.sent.size() == 2);
  CHECK(c.remote_irr(9));
  c.io.set_irq(9, false);
  c.io.eoi(0x59);  // no longer asserted: just ends
  CHECK(c.sink.sent.size() == 2);
  CHECK_FALSE(c.remote_irr(9));
  c.io.set_irq(9, true);
  CHECK(c.sink.sent.size() == 3);
}

TEST_CASE("a level line unmasked while asserted delivers") {
  Chip c;
  c.route(5, kMasked | kLevel | 0x65, 3);
  c.io.set_irq(5, true);
  CHECK(c.sink.sent.empty());
  CHECK_FALSE(c.remote_irr(5));
  c.set(0x1a, kLevel | 0x65);
  REQUIRE(c.sink.sent.size() == 1);
  CHECK(c.sink.sent[0].vector == 0x65);
  CHECK(c.remote_irr(5));
  // Masked during service: the EOI ends it but does not re-deliver.
  c.set(0x1a, kMasked | kLevel | 0x65);
  c.io.eoi(0x65);
  CHECK(c.sink.sent.size() == 1);
  CHECK_FALSE(c.remote_irr(5));
}

TEST_CASE("logical destination and delivery mode pass through") {
  Chip c;
  c.route(2, 0x800 | 0x100 | 0x70, 0x03);  // logical, lowest priority
  c.io.set_irq(2, true);
  REQUIRE(c.sink.sent.size() == 1);
  CHECK(c.sink.sent[0] == Message{0x03, true, 0x70, false, 1});
  c.io.set_irq(24, true);  // no such pin
  CHECK(c.sink.sent.size() == 1);
}

TEST_CASE("save/restore round trip") {
  Chip a;
  a.set(0, 0x05000000);
  a.route(9, kLevel | 0x59, 1);
  a.route(1, 0x41, 2);
  a.io.set_irq(9, true);
  a.io.set_irq(1, true);
  a.io.write(Ioapic::kIoregsel, 0x13);
  IoapicState s = a.io.save();
  CHECK(s.irr == ((1u << 9) | (1u << 1)));
  CHECK(s.redir[9] == (kLevel | kRemoteIrr | 0x59 | (1ull << 56)));

  Chip b;
  b.io.restore(s);
  CHECK(b.sink.sent.empty());  // restore delivers nothing
  CHECK(b.io.read(Ioapic::kIoregsel) == 0x13);
  CHECK(b.io.read(Ioapic::kIowin) == 0x02000000);
  CHECK(b.reg(0) == 0x05000000);
  b.io.set_irq(1, true);  // already high: no edge
  CHECK(b.sink.sent.empty());
  b.io.eoi(0x59);
  REQUIRE(b.sink.sent.size() == 1);
  CHECK(b.sink.sent[0] == Message{1, false, 0x59, true, 0});
}

TEST_CASE("restore refuses bad states") {
  Chip c;
  IoapicState good = c.io.save();
  IoapicState s = good;
  s.version = 9;
  CHECK_THROWS_WITH_AS(c.io.restore(s), Contains("version 9"), Error);
  s = good;
  s.irr = 1u << 24;
  CHECK_THROWS_WITH_AS(c.io.restore(s), Contains("pins above 23"), Error);
  s = good;
  s.id = 1;
  CHECK_THROWS_WITH_AS(c.io.restore(s), Contains("ID register"), Error);
  s = good;
  s.ioregsel = 0x100;
  CHECK_THROWS_WITH_AS(c.io.restore(s), Contains("IOREGSEL"), Error);
}

}  // TEST_SUITE
