// The software local APIC: registers as the guest sees them, the timer on a
// fake clock, priorities, EOI, IPIs through the ICR, save/restore.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "vmm/core/error.h"
#include "vmm/platform/lapic.h"

using namespace hsls;
using namespace hsls::platform;
using doctest::Contains;

namespace {

// Records what the APIC sends on the bus.
struct FakeBus : ApicBus {
  struct Sent {
    unsigned from;
    Ipi ipi;
  };
  std::vector<Sent> ipis;
  std::vector<uint8_t> eois;
  void send_ipi(unsigned from_apic, const Ipi& ipi) override { ipis.push_back({from_apic, ipi}); }
  void eoi_level(uint8_t vector) override { eois.push_back(vector); }
};

constexpr uint64_t kStart = 1'000'000;

// An APIC (ID 1) on a fake clock, software-enabled with spurious vector 0xff.
struct Apic {
  uint64_t now = kStart;
  FakeBus bus;
  Lapic apic{1, bus, [this] { return now; }};
  Apic() { apic.write(Lapic::kSvr, 0x1ff); }

  // Bit `vector` of the ISR, TMR or IRR as the guest reads it.
  bool bit(uint32_t base, unsigned vector) { return apic.read(base + vector / 32 * 16) >> (vector % 32) & 1; }
  uint32_t count() { return apic.read(Lapic::kTimerCurrent); }
  // Starts the timer: divide configuration, LVT timer, initial count.
  void start(uint32_t divide, uint32_t lvt, uint32_t initial) {
    apic.write(Lapic::kTimerDivide, divide);
    apic.write(Lapic::kLvtTimer, lvt);
    apic.write(Lapic::kTimerInitial, initial);
  }
  // Takes the pending vector as the CPU would, returning it.
  int take() {
    int v = apic.pending();
    if (v >= 0) apic.acknowledge(uint8_t(v));
    return v;
  }
};

// The 8 divide configuration encodings and the divisors they select.
constexpr struct {
  uint32_t config, divisor;
} kDivides[] = {{0x0, 2}, {0x1, 4}, {0x2, 8}, {0x3, 16}, {0x8, 32}, {0x9, 64}, {0xa, 128}, {0xb, 1}};

}  // namespace

TEST_SUITE("platform-lapic") {

TEST_CASE("power-on state") {
  FakeBus bus;
  Lapic apic(3, bus, [] { return uint64_t(0); });
  CHECK(apic.read(Lapic::kId) == 3u << 24);
  CHECK(apic.read(Lapic::kVer) == 0x00050014);
  CHECK(apic.read(Lapic::kDfr) == 0xffffffff);
  CHECK(apic.read(Lapic::kSvr) == 0xff);
  CHECK(apic.read(Lapic::kTpr) == 0);
  CHECK(apic.read(Lapic::kPpr) == 0);
  CHECK(apic.read(Lapic::kLdr) == 0);
  for (uint32_t lvt = Lapic::kLvtTimer; lvt <= Lapic::kLvtError; lvt += 0x10) CHECK(apic.read(lvt) == 0x10000);
  CHECK(apic.read(Lapic::kTimerInitial) == 0);
  CHECK(apic.read(Lapic::kTimerCurrent) == 0);
  CHECK(apic.timer_deadline() == UINT64_MAX);
  CHECK(apic.pending() == -1);
}

TEST_CASE("register write masks, read-only and reserved registers") {
  Apic a;
  a.apic.write(Lapic::kId, 7u << 24);  // read-only here
  CHECK(a.apic.read(Lapic::kId) == 1u << 24);
  a.apic.write(Lapic::kVer, 0);
  CHECK(a.apic.read(Lapic::kVer) == 0x00050014);
  a.apic.write(Lapic::kTpr, 0x1234);
  CHECK(a.apic.read(Lapic::kTpr) == 0x34);
  a.apic.write(Lapic::kLdr, 0xab123456);
  CHECK(a.apic.read(Lapic::kLdr) == 0xab000000);
  a.apic.write(Lapic::kDfr, 0x00000000);
  CHECK(a.apic.read(Lapic::kDfr) == 0x0fffffff);
  a.apic.write(Lapic::kSvr, 0xffffffff);
  CHECK(a.apic.read(Lapic::kSvr) == 0x3ff);
  a.apic.write(Lapic::kLvtTimer, 0xffffffff);  // no TSC-deadline mode, no delivery status
  CHECK(a.apic.read(Lapic::kLvtTimer) == 0x300ff);
  a.apic.write(Lapic::kLvtLint0, 0xffffffff);  // remote IRR and delivery status are read-only
  CHECK(a.apic.read(Lapic::kLvtLint0) == 0x1a7ff);
  a.apic.write(Lapic::kLvtError, 0xffffffff);
  CHECK(a.apic.read(Lapic::kLvtError) == 0x100ff);
  a.apic.write(Lapic::kLvtPerf, 0xffffffff);
  CHECK(a.apic.read(Lapic::kLvtPerf) == 0x107ff);
  a.apic.write(Lapic::kTimerDivide, 0xffffffff);
  CHECK(a.apic.read(Lapic::kTimerDivide) == 0xb);
  a.apic.write(Lapic::kEoi, 0);
  CHECK(a.apic.read(Lapic::kEoi) == 0);
  CHECK(a.apic.read(0x2f0) == 0);  // no CMCI LVT with 6 entries
  CHECK(a.apic.read(Lapic::kTpr + 4) == 0);
  CHECK(a.apic.read(0x400) == 0);
  CHECK(a.bus.ipis.empty());
}

TEST_CASE("timer current count at given times, for each divisor") {
  for (const auto& divide : kDivides) {
    const uint32_t config = divide.config, div = divide.divisor;  // not a structured binding: CAPTURE's lambda takes it (clang 14)
    CAPTURE(config);
    Apic a;
    a.start(config, 0x40, 1000);
    CHECK(a.apic.read(Lapic::kTimerDivide) == config);
    CHECK(a.apic.timer_deadline() == kStart + 1000ull * div);
    CHECK(a.count() == 1000);
    a.now = kStart + 250ull * div;
    CHECK(a.count() == 750);
    a.now = kStart + 250ull * div + 1;  // count = remaining ns / divisor, rounded down
    CHECK(a.count() == 749);
    a.now = kStart + 1000ull * div - 1;  // 1 ns left: a whole count only when dividing by 1
    CHECK(a.count() == (div == 1 ? 1u : 0u));
    a.now = kStart + 1000ull * div + 5000;  // expired one-shot stays at 0
    CHECK(a.count() == 0);
  }
}

TEST_CASE("one-shot timer fires once at its deadline") {
  Apic a;
  a.start(0xb, 0x40, 500);  // divide by 1: 500 ns
  a.now = kStart + 499;
  a.apic.tick();
  CHECK(a.apic.pending() == -1);
  a.now = kStart + 500;
  a.apic.tick();
  CHECK(a.apic.pending() == 0x40);
  CHECK_FALSE(a.bit(Lapic::kTmr, 0x40));  // the timer is edge-triggered
  CHECK(a.apic.timer_deadline() == UINT64_MAX);
  CHECK(a.count() == 0);
  CHECK(a.take() == 0x40);
  a.apic.write(Lapic::kEoi, 0);
  a.now += 100000;
  a.apic.tick();
  CHECK(a.apic.pending() == -1);
  // Writing the initial count starts it again; writing 0 stops it.
  a.apic.write(Lapic::kTimerInitial, 10);
  CHECK(a.apic.timer_deadline() == a.now + 10);
  a.apic.write(Lapic::kTimerInitial, 0);
  CHECK(a.apic.timer_deadline() == UINT64_MAX);
  CHECK(a.count() == 0);
}

TEST_CASE("periodic timer re-arms from its previous deadline") {
  Apic a;
  a.start(0x3, Lapic::kTimerPeriodic | 0x41, 100);  // divide by 16: period 1600 ns
  CHECK(a.apic.timer_deadline() == kStart + 1600);
  a.now = kStart + 1650;  // 50 ns late
  a.apic.tick();
  CHECK(a.take() == 0x41);
  a.apic.write(Lapic::kEoi, 0);
  CHECK(a.apic.timer_deadline() == kStart + 3200);  // not now + period
  CHECK(a.count() == (3200 - 1650) / 16);
  // A tick that was missed: the count has already reloaded.
  a.now = kStart + 3200 + 160;
  CHECK(a.count() == 90);
  a.apic.tick();
  CHECK(a.take() == 0x41);
  a.apic.write(Lapic::kEoi, 0);
  CHECK(a.apic.timer_deadline() == kStart + 4800);
}

TEST_CASE("periodic timer after a long gap: one interrupt, next deadline in the future") {
  Apic a;
  a.start(0xb, Lapic::kTimerPeriodic | 0x42, 1000);
  a.now = kStart + 10'500;  // ten periods late
  a.apic.tick();
  CHECK(a.take() == 0x42);
  CHECK(a.apic.pending() == -1);
  CHECK(a.apic.timer_deadline() == kStart + 11'000);  // still on the period grid
  a.apic.tick();
  CHECK(a.apic.pending() == -1);
  a.apic.write(Lapic::kEoi, 0);
  a.now = kStart + 11'000;
  a.apic.tick();
  CHECK(a.take() == 0x42);
  CHECK(a.apic.timer_deadline() == kStart + 12'000);
}

TEST_CASE("a masked timer counts but raises nothing") {
  Apic a;
  a.start(0xb, Lapic::kLvtMasked | Lapic::kTimerPeriodic | 0x43, 100);
  a.now = kStart + 100;
  a.apic.tick();
  CHECK(a.apic.pending() == -1);
  CHECK_FALSE(a.bit(Lapic::kIrr, 0x43));
  CHECK(a.apic.timer_deadline() == kStart + 200);
  a.apic.write(Lapic::kLvtTimer, Lapic::kTimerPeriodic | 0x43);  // unmasking does not restart it
  CHECK(a.apic.timer_deadline() == kStart + 200);
  a.now = kStart + 200;
  a.apic.tick();
  CHECK(a.apic.pending() == 0x43);
}

TEST_CASE("changing the divisor while counting keeps the count") {
  Apic a;
  a.start(0x0, 0x40, 1000);  // divide by 2
  a.now = kStart + 400;      // 800 counts left
  CHECK(a.count() == 800);
  a.apic.write(Lapic::kTimerDivide, 0x3);  // divide by 16
  CHECK(a.count() == 800);
  CHECK(a.apic.timer_deadline() == kStart + 400 + 800 * 16);
}

TEST_CASE("software disable masks the LVTs and refuses new interrupts") {
  Apic a;
  a.apic.write(Lapic::kLvtTimer, 0x40);
  a.apic.write(Lapic::kLvtLint1, 0x400);
  a.apic.accept(0x50, false);
  a.apic.write(Lapic::kSvr, 0xff);  // disable
  CHECK(a.apic.read(Lapic::kLvtTimer) == (Lapic::kLvtMasked | 0x40));
  CHECK(a.apic.read(Lapic::kLvtLint1) == (Lapic::kLvtMasked | 0x400));
  a.apic.write(Lapic::kLvtError, 0x45);  // stays masked while disabled
  CHECK(a.apic.read(Lapic::kLvtError) == (Lapic::kLvtMasked | 0x45));
  a.apic.accept(0x60, false);
  CHECK_FALSE(a.bit(Lapic::kIrr, 0x60));
  CHECK(a.apic.pending() == 0x50);  // what IRR held is kept
  a.apic.write(Lapic::kSvr, 0x1ff);
  CHECK(a.apic.read(Lapic::kLvtTimer) == (Lapic::kLvtMasked | 0x40));  // still masked
  a.apic.accept(0x60, false);
  CHECK(a.apic.pending() == 0x60);
}

TEST_CASE("TPR and PPR gate pending()") {
  Apic a;
  a.apic.accept(0x45, false);
  CHECK(a.bit(Lapic::kIrr, 0x45));
  a.apic.write(Lapic::kTpr, 0x40);  // class 4 does not beat class 4
  CHECK(a.apic.read(Lapic::kPpr) == 0x40);
  CHECK(a.apic.pending() == -1);
  a.apic.write(Lapic::kTpr, 0x4f);
  CHECK(a.apic.pending() == -1);
  a.apic.write(Lapic::kTpr, 0x3f);
  CHECK(a.apic.read(Lapic::kPpr) == 0x3f);
  CHECK(a.apic.pending() == 0x45);
  a.apic.write(Lapic::kTpr, 0xf0);
  CHECK(a.apic.pending() == -1);
  a.apic.accept(0xfe, false);  // class 15 never beats PPR class 15
  CHECK(a.apic.pending() == -1);
  a.apic.write(Lapic::kTpr, 0);
  CHECK(a.apic.pending() == 0xfe);
}

TEST_CASE("IRR -> ISR -> EOI with nested vectors") {
  Apic a;
  a.apic.accept(0x30, false);
  CHECK(a.take() == 0x30);
  CHECK_FALSE(a.bit(Lapic::kIrr, 0x30));
  CHECK(a.bit(Lapic::kIsr, 0x30));
  CHECK(a.apic.read(Lapic::kPpr) == 0x30);
  a.apic.accept(0x35, false);  // same class as in service: waits
  CHECK(a.apic.pending() == -1);
  a.apic.accept(0x50, false);  // higher class: nests
  CHECK(a.take() == 0x50);
  CHECK(a.apic.read(Lapic::kPpr) == 0x50);
  a.apic.accept(0x40, false);
  CHECK(a.apic.pending() == -1);
  a.apic.write(Lapic::kEoi, 0);  // ends 0x50, the highest in service
  CHECK_FALSE(a.bit(Lapic::kIsr, 0x50));
  CHECK(a.bit(Lapic::kIsr, 0x30));
  CHECK(a.apic.read(Lapic::kPpr) == 0x30);
  CHECK(a.take() == 0x40);
  a.apic.write(Lapic::kEoi, 0);
  CHECK_FALSE(a.bit(Lapic::kIsr, 0x40));
  CHECK(a.bit(Lapic::kIsr, 0x30));
  CHECK(a.apic.pending() == -1);  // 0x35 still below 0x30's class
  a.apic.write(Lapic::kEoi, 0);
  CHECK(a.apic.read(Lapic::kPpr) == 0);
  CHECK(a.take() == 0x35);
  a.apic.write(Lapic::kEoi, 0);
  a.apic.write(Lapic::kEoi, 0);  // nothing in service: no effect
  CHECK(a.apic.read(Lapic::kIsr + 0x10) == 0);
  CHECK(a.bus.eois.empty());
  a.apic.acknowledge(0x77);  // not requested: ignored
  CHECK_FALSE(a.bit(Lapic::kIsr, 0x77));
}

TEST_CASE("EOI of a level-triggered vector tells the bus") {
  Apic a;
  a.apic.accept(0x61, true);
  CHECK(a.bit(Lapic::kTmr, 0x61));
  a.apic.accept(0x62, false);
  CHECK(a.take() == 0x62);
  a.apic.write(Lapic::kEoi, 0);
  CHECK(a.bus.eois.empty());
  CHECK(a.take() == 0x61);
  a.apic.write(Lapic::kEoi, 0);
  REQUIRE(a.bus.eois.size() == 1);
  CHECK(a.bus.eois[0] == 0x61);
  a.apic.accept(0x61, false);  // accepted edge-triggered now: TMR follows
  CHECK_FALSE(a.bit(Lapic::kTmr, 0x61));
}

TEST_CASE("ICR writes send the IPI they describe") {
  Apic a;
  a.apic.write(Lapic::kIcrHigh, 0x02abcdef);
  CHECK(a.apic.read(Lapic::kIcrHigh) == 0x02000000);
  a.apic.write(Lapic::kIcrLow, 0x4041);  // fixed, assert, vector 0x41
  REQUIRE(a.bus.ipis.size() == 1);
  auto& f = a.bus.ipis[0];
  CHECK(f.from == 1);
  CHECK(f.ipi.mode == Ipi::Mode::fixed);
  CHECK(f.ipi.vector == 0x41);
  CHECK(f.ipi.dest == 2);
  CHECK(f.ipi.shorthand == Ipi::Shorthand::none);
  CHECK_FALSE(f.ipi.logical);
  CHECK(f.ipi.level_assert);
  CHECK(a.apic.read(Lapic::kIcrLow) == 0x4041);  // delivery status idle

  a.apic.write(Lapic::kIcrLow, 0x4500);  // INIT
  CHECK(a.bus.ipis.back().ipi.mode == Ipi::Mode::init);
  CHECK(a.bus.ipis.back().ipi.level_assert);
  a.apic.write(Lapic::kIcrLow, 0x8500);  // INIT level de-assert
  CHECK(a.bus.ipis.back().ipi.mode == Ipi::Mode::init);
  CHECK_FALSE(a.bus.ipis.back().ipi.level_assert);
  a.apic.write(Lapic::kIcrLow, 0x4608);  // SIPI, start page 8
  CHECK(a.bus.ipis.back().ipi.mode == Ipi::Mode::sipi);
  CHECK(a.bus.ipis.back().ipi.vector == 0x08);
  CHECK(a.bus.ipis.back().ipi.dest == 2);
  a.apic.write(Lapic::kIcrLow, 0x4400);
  CHECK(a.bus.ipis.back().ipi.mode == Ipi::Mode::nmi);
  a.apic.write(Lapic::kIcrLow, 0x4200);
  CHECK(a.bus.ipis.back().ipi.mode == Ipi::Mode::smi);
  a.apic.write(Lapic::kIcrLow, 0x4150);
  CHECK(a.bus.ipis.back().ipi.mode == Ipi::Mode::lowest);

  a.apic.write(Lapic::kIcrLow, 0x44050);
  CHECK(a.bus.ipis.back().ipi.shorthand == Ipi::Shorthand::self);
  a.apic.write(Lapic::kIcrLow, 0x84050);
  CHECK(a.bus.ipis.back().ipi.shorthand == Ipi::Shorthand::all_including_self);
  a.apic.write(Lapic::kIcrLow, 0xc4050);
  CHECK(a.bus.ipis.back().ipi.shorthand == Ipi::Shorthand::all_excluding_self);
  CHECK(a.bus.ipis.back().ipi.vector == 0x50);

  a.apic.write(Lapic::kIcrHigh, 0x0c000000);
  a.apic.write(Lapic::kIcrLow, 0x4851);  // logical destination 0x0c
  CHECK(a.bus.ipis.back().ipi.logical);
  CHECK(a.bus.ipis.back().ipi.dest == 0x0c);
  CHECK(a.bus.ipis.back().ipi.vector == 0x51);
  CHECK(a.bus.ipis.size() == 11);

  a.apic.write(Lapic::kIcrLow, 0x4300);  // reserved delivery mode: nothing sent
  a.apic.write(Lapic::kIcrLow, 0x4005);  // fixed with an illegal vector: an error instead
  CHECK(a.bus.ipis.size() == 11);
  a.apic.write(Lapic::kEsr, 0);
  CHECK(a.apic.read(Lapic::kEsr) == Lapic::kEsrSendIllegal);
}

TEST_CASE("ESR: errors become readable at the next write") {
  Apic a;
  a.apic.accept(5, false);
  CHECK_FALSE(a.bit(Lapic::kIrr, 5));
  CHECK(a.apic.read(Lapic::kEsr) == 0);
  a.apic.write(Lapic::kEsr, 0);
  CHECK(a.apic.read(Lapic::kEsr) == Lapic::kEsrReceiveIllegal);
  a.apic.write(Lapic::kEsr, 0);
  CHECK(a.apic.read(Lapic::kEsr) == 0);
  // With the error LVT unmasked, an error raises its vector.
  a.apic.write(Lapic::kLvtError, 0xe0);
  a.apic.accept(15, false);
  CHECK(a.apic.pending() == 0xe0);
  // An illegal vector in the timer LVT is an error too.
  a.apic.write(Lapic::kEsr, 0);
  a.start(0xb, 0x0a, 10);
  a.now += 10;
  a.apic.tick();
  a.apic.write(Lapic::kEsr, 0);
  CHECK(a.apic.read(Lapic::kEsr) == Lapic::kEsrReceiveIllegal);
}

TEST_CASE("reset returns to the power-on state") {
  Apic a;
  a.apic.write(Lapic::kTpr, 0x20);
  a.apic.accept(0x70, true);
  a.take();
  a.start(0x3, Lapic::kTimerPeriodic | 0x40, 1000);
  a.apic.accept(3, false);
  a.apic.reset();
  FakeBus bus2;
  Lapic fresh(1, bus2, [] { return uint64_t(0); });
  LapicState s = a.apic.save(), f = fresh.save();
  CHECK(std::memcmp(&s, &f, sizeof s) == 0);
  CHECK(a.apic.timer_deadline() == UINT64_MAX);
}

TEST_CASE("save/restore round trip, timer re-based on a later clock") {
  Apic a;
  a.apic.write(Lapic::kTpr, 0x10);
  a.apic.write(Lapic::kLdr, 0x04000000);
  a.apic.write(Lapic::kDfr, 0xf0000000);
  a.apic.write(Lapic::kIcrHigh, 0x03000000);
  a.apic.write(Lapic::kLvtLint1, 0x400);
  a.apic.accept(0x80, true);
  a.take();
  a.apic.accept(0x90, false);
  a.apic.accept(7, false);  // an error waiting for the ESR write
  // Divide by 4: period 4000 ns; masked, so that IRR shows only what is set above.
  a.start(0x1, Lapic::kLvtMasked | Lapic::kTimerPeriodic | 0x40, 1000);
  a.now = kStart + 4000;
  a.apic.tick();
  a.now = kStart + 5000;  // 3000 ns left in this period
  CHECK(a.count() == 750);
  LapicState s = a.apic.save();
  CHECK(s.timer_remaining_ns == 3000);
  uint32_t saved_count;
  std::memcpy(&saved_count, s.regs + Lapic::kTimerCurrent, 4);
  CHECK(saved_count == 750);

  Apic b;
  b.now = 77'000'000'000;
  b.apic.restore(s);
  CHECK(b.apic.timer_deadline() == 77'000'003'000);
  CHECK(b.count() == 750);
  for (uint32_t off = 0; off <= 0x3f0; off += 0x10) {
    CAPTURE(off);
    CHECK(b.apic.read(off) == a.apic.read(off));
  }
  CHECK(b.apic.pending() == 0x90);
  b.apic.write(Lapic::kEsr, 0);
  CHECK(b.apic.read(Lapic::kEsr) == Lapic::kEsrReceiveIllegal);
  b.apic.write(Lapic::kLvtTimer, Lapic::kTimerPeriodic | 0x40);
  b.now += 2999;
  b.apic.tick();
  CHECK_FALSE(b.bit(Lapic::kIrr, 0x40));
  b.now += 1;
  b.apic.tick();
  CHECK(b.bit(Lapic::kIrr, 0x40));
  CHECK(b.apic.timer_deadline() == 77'000'007'000);
  b.apic.write(Lapic::kEoi, 0);
  CHECK(b.bus.eois == std::vector<uint8_t>{0x80});
}

TEST_CASE("a timer due but not fired at save fires after restore") {
  Apic a;
  a.start(0xb, 0x40, 100);
  a.now = kStart + 500;
  LapicState s = a.apic.save();
  CHECK(s.timer_remaining_ns == 1);
  Apic b;
  b.apic.restore(s);
  b.now += 1;
  b.apic.tick();
  CHECK(b.apic.pending() == 0x40);
  // A stopped timer saves 0 and stays stopped.
  a.apic.tick();
  CHECK(a.apic.save().timer_remaining_ns == 0);
}

TEST_CASE("restore refuses what it cannot take") {
  Apic a;
  a.start(0xb, 0x40, 100);
  LapicState good = a.apic.save();
  Apic b;

  LapicState s = good;
  s.version = 2;
  CHECK_THROWS_WITH_AS(b.apic.restore(s), Contains("version 2"), Error);
  s = good;
  uint32_t id = 5u << 24;
  std::memcpy(s.regs + Lapic::kId, &id, 4);
  CHECK_THROWS_WITH_AS(b.apic.restore(s), Contains("APIC ID 5"), Error);
  s = good;
  uint32_t lvt = 0x40040;
  std::memcpy(s.regs + Lapic::kLvtTimer, &lvt, 4);
  CHECK_THROWS_WITH_AS(b.apic.restore(s), Contains("TSC-deadline"), Error);
  s = good;
  s.timer_remaining_ns = 101;
  CHECK_THROWS_WITH_AS(b.apic.restore(s), Contains("101 ns left"), Error);
  // A refused restore leaves the APIC as it was.
  CHECK(b.apic.read(Lapic::kSvr) == 0x1ff);
  CHECK(b.apic.timer_deadline() == UINT64_MAX);
  b.apic.restore(good);
  CHECK(b.apic.timer_deadline() == b.now + 100);
}

TEST_CASE("restore clears reserved bits and recomputes PPR") {
  Apic a;
  LapicState s = a.apic.save();
  uint32_t v = 0xffffffff;
  std::memcpy(s.regs + Lapic::kLvtLint0, &v, 4);
  std::memcpy(s.regs + Lapic::kIsr, &v, 4);  // vectors 0-15 cannot be in service
  std::memcpy(s.regs + Lapic::kPpr, &v, 4);
  std::memcpy(s.regs + 0x3f0, &v, 4);
  a.apic.restore(s);
  CHECK(a.apic.read(Lapic::kLvtLint0) == 0x1a7ff);
  CHECK(a.apic.read(Lapic::kIsr) == 0xffff0000);
  CHECK(a.apic.read(Lapic::kPpr) == 0x10);
  CHECK(a.apic.read(0x3f0) == 0);
}

}  // TEST_SUITE
