// accel::tcg::deliver: interrupt and exception delivery in 64-bit mode,
// against page tables, a GDT, a TSS and an IDT built by hand in a
// buffer-backed GuestMemory. Every system structure and stack sits at a
// linear address that differs from its physical one, so a delivery that
// skipped the page walk would read or write the wrong bytes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "vmm/accel/cpu_state.h"
#include "vmm/accel/tcg/delivery.h"
#include "vmm/core/guest_memory.h"
#include "vmm/core/write_guard.h"

using namespace hsls;
using accel::CpuState;
using accel::Segment;
using accel::tcg::DeliveryResult;
using accel::tcg::Event;
using accel::tcg::deliver;
using Kind = Event::Kind;

namespace {

constexpr uint64_t kP = 1, kRW = 2, kA = 1ull << 5, kD = 1ull << 6;
constexpr uint64_t kCr0Pe = 1, kCr0Wp = 1ull << 16, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5, kCr4La57 = 1ull << 12;
constexpr uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;
constexpr uint64_t kTF = 1ull << 8, kIF = 1ull << 9, kNT = 1ull << 14, kRF = 1ull << 16, kAC = 1ull << 18;

// Paging: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000 (linear 0-2 MiB in 4 KiB pages).
constexpr uint64_t kPml5 = 0x5000, kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kPt = 0x4000;
// Linear -> physical.
constexpr uint64_t kIdt = 0x10000, kIdtPhys = 0x50000;
constexpr uint64_t kGdt = 0x11000, kGdtPhys = 0x51000;
constexpr uint64_t kTss = 0x12000, kTssPhys = 0x52000;
constexpr uint64_t kRsp0 = 0x20000, kStack0Phys = 0x60000;      // page 0x1f000
constexpr uint64_t kIst1 = 0x31000, kIst1Phys = 0x70000;        // page 0x30000
constexpr uint64_t kIst2 = 0x39000, kIst2Phys = 0x78000;        // page 0x38000
constexpr uint64_t kUserStackPhys = 0x80000;                    // page 0x40000
constexpr uint64_t kKStack = 0x50000, kKStackPhys = 0x90000;    // page 0x50000 (phys 0x50000 is the IDT)
constexpr uint64_t kReadOnly = 0x60000, kReadOnlyPhys = 0xa0000;
constexpr uint64_t kRsp1 = 0x49000, kStack1Phys = 0xc0000;      // page 0x48000
constexpr uint64_t kUnmapped = 0x70000;

// Selectors.
constexpr uint16_t kKernelCs = 0x08, kKernelSs = 0x10, kUserSs = 0x1b, kUserCs = 0x23;
constexpr uint16_t kAbsentCs = 0x28, kCode32 = 0x30, kTr = 0x38, kRing1Cs = 0x40, kConformingCs = 0x48;

constexpr uint64_t handler(unsigned vector) { return 0xffffffff81000000ull + vector * 0x100; }

struct Machine {
  std::vector<uint8_t> buf = std::vector<uint8_t>(8ull << 20, 0);
  GuestMemory mem{buf.data(), buf.size()};

  void put64(uint64_t gpa, uint64_t v) { REQUIRE(mem.write(gpa, &v, 8)); }
  uint64_t get64(uint64_t gpa) const {
    uint64_t v = 0;
    REQUIRE(mem.read(gpa, &v, 8));
    return v;
  }
  // Maps the 4 KiB page at `linear` (below 2 MiB).
  void map(uint64_t linear, uint64_t phys, uint64_t flags = kP | kRW) { put64(kPt + (linear >> 12) * 8, phys | flags); }
  uint64_t pte(uint64_t linear) const { return get64(kPt + (linear >> 12) * 8); }

  void gate(unsigned vector, unsigned type, unsigned dpl = 0, unsigned ist = 0, bool present = true,
            uint16_t selector = kKernelCs) {
    uint64_t h = handler(vector);
    uint64_t lo = (h & 0xffff) | uint64_t(selector) << 16 | uint64_t(ist) << 32 | uint64_t(type) << 40 |
                  uint64_t(dpl) << 45 | uint64_t(present) << 47 | ((h >> 16) & 0xffff) << 48;
    put64(kIdtPhys + vector * 16, lo);
    put64(kIdtPhys + vector * 16 + 8, h >> 32);
  }

  // Reads `n` qwords at guest-physical `gpa` upwards.
  std::vector<uint64_t> qwords(uint64_t gpa, unsigned n) const {
    std::vector<uint64_t> out;
    for (unsigned i = 0; i < n; ++i) out.push_back(get64(gpa + 8 * i));
    return out;
  }

  Machine() {
    put64(kPml4, kPdpt | kP | kRW);
    put64(kPdpt, kPd | kP | kRW);
    put64(kPd, kPt | kP | kRW);
    map(kIdt, kIdtPhys);
    map(kGdt, kGdtPhys);
    map(kTss, kTssPhys);
    map(kRsp0 - 0x1000, kStack0Phys);
    map(kIst1 - 0x1000, kIst1Phys);
    map(kIst2 - 0x1000, kIst2Phys);
    map(0x40000, kUserStackPhys);
    map(kKStack, kKStackPhys);
    map(kReadOnly, kReadOnlyPhys, kP);
    map(kRsp1 - 0x1000, kStack1Phys);
    // GDT.
    put64(kGdtPhys + 0x08, 0x00af9a000000ffffull);  // kernel code, 64-bit
    put64(kGdtPhys + 0x10, 0x00cf92000000ffffull);  // kernel data
    put64(kGdtPhys + 0x18, 0x00cff2000000ffffull);  // user data
    put64(kGdtPhys + 0x20, 0x00affa000000ffffull);  // user code, 64-bit
    put64(kGdtPhys + 0x28, 0x00af1a000000ffffull);  // kernel code, not present
    put64(kGdtPhys + 0x30, 0x00cf9a000000ffffull);  // 32-bit code
    // 0x38-0x47: the TSS descriptor (not read by delivery: TR's hidden part is used)
    put64(kGdtPhys + 0x40, 0x00afba000000ffffull);  // ring-1 code, 64-bit
    put64(kGdtPhys + 0x48, 0x00af9e000000ffffull);  // conforming code, DPL 0, 64-bit
    // 64-bit TSS: RSP0, IST1, IST2.
    put64(kTssPhys + 4, kRsp0);
    put64(kTssPhys + 0xc, kRsp1);
    put64(kTssPhys + 0x24, kIst1);
    put64(kTssPhys + 0x2c, kIst2);
    // IDT.
    gate(2, 0xe, 0, 1);     // NMI on IST1
    gate(8, 0xe, 0, 2);     // #DF on IST2
    gate(10, 0xe);          // #TS
    gate(11, 0xe);          // #NP
    gate(13, 0xe);          // #GP
    gate(14, 0xe);          // #PF
    gate(0x20, 0xe);        // an interrupt gate
    gate(0x21, 0xf);        // a trap gate
    gate(0x22, 0xe, 0, 1);  // an interrupt gate on IST1
    gate(0x23, 0xe, 0, 3);  // IST3 (left zero in the TSS)
    gate(0x24, 0xe, 0, 0, true, kRing1Cs | 3);  // to ring 1 (the selector's RPL is ignored)
    gate(0x25, 0xf, 0, 0, true, kConformingCs);
    gate(0x40, 0xe, 0, 0, false);               // not present
    gate(0x41, 0xe, 0, 0, true, kAbsentCs);     // code segment not present
    gate(0x42, 0xc);                            // a call gate
    gate(0x43, 0xe, 0, 0, true, kCode32);       // 32-bit code segment
    gate(0x44, 0xe, 0, 0, true, 0x50);          // beyond the GDT limit
    gate(0x45, 0xe, 0, 0, true, kUserSs);       // a data segment
    gate(0x46, 0xe, 0, 0, true, 0);             // null selector
    gate(0x80, 0xe, 3);     // reachable by int from ring 3
    gate(0x81, 0xe, 0);     // not reachable by int from ring 3
  }
};

Segment code64(uint16_t selector) {
  Segment s;
  s.selector = selector;
  s.limit = 0xffffffff;
  s.type = 0xb;
  s.present = 1;
  s.dpl = selector & 3;
  s.s = 1;
  s.l = 1;
  s.g = 1;
  return s;
}

Segment data(uint16_t selector) {
  Segment s;
  s.selector = selector;
  s.limit = 0xffffffff;
  s.type = 0x3;
  s.present = 1;
  s.dpl = selector & 3;
  s.db = 1;
  s.s = 1;
  s.g = 1;
  return s;
}

CpuState long_mode() {
  CpuState c;
  c.cr0 = kCr0Pe | kCr0Wp | kCr0Pg;
  c.cr3 = kPml4;
  c.cr4 = kCr4Pae;
  c.efer = kEferLme | kEferLma;
  c.gdt.base = kGdt;
  c.gdt.limit = 0x4f;
  c.idt.base = kIdt;
  c.idt.limit = 0xfff;
  c.tr.base = kTss;
  c.tr.limit = 0x67;
  c.tr.selector = kTr;
  c.tr.type = 0xb;
  c.tr.present = 1;
  c.ldt.unusable = 1;
  for (unsigned i = 0; i < 16; ++i) c.gpr[i] = 0x1111111100000000ull + i;
  return c;
}

// Ring 3, on its own stack, with TF, NT, AC and IF set.
CpuState user() {
  CpuState c = long_mode();
  c.cs = code64(kUserCs);
  c.ss = c.ds = c.es = data(kUserSs);
  c.rip = 0x401234;
  c.gpr[accel::rsp] = 0x40ff8;
  c.rflags = 0x2 | 0x4 | 0x40 | kIF | kTF | kNT | kAC;  // 0x44346
  return c;
}

// Ring 0 on the stack at kKStack, RSP not 16-byte aligned.
CpuState kernel() {
  CpuState c = long_mode();
  c.cs = code64(kKernelCs);
  c.ss = c.ds = c.es = data(kKernelSs);
  c.rip = 0xffffffff81234567ull;
  c.gpr[accel::rsp] = kKStack + 0xf38;
  c.rflags = 0x246;
  return c;
}

Event external(uint8_t vector) { return Event{vector, Kind::external, false, 0, 0, 0}; }
Event exception(uint8_t vector, uint32_t error = 0, uint64_t cr2 = 0) {
  return Event{vector, Kind::exception, accel::tcg::has_error_code(vector), error, cr2, 0};
}
Event software(uint8_t vector, uint8_t length = 2) { return Event{vector, Kind::software, false, 0, 0, length}; }

bool same_segment(const Segment& a, const Segment& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The handler's CS after a delivery to the kernel code segment.
void check_kernel_cs(const CpuState& c) {
  CHECK(c.cs.selector == kKernelCs);
  CHECK(c.cs.base == 0u);
  CHECK(c.cs.limit == 0xffffffffu);
  CHECK(c.cs.type == 0xb);  // execute/read, accessed
  CHECK(c.cs.present == 1);
  CHECK(c.cs.dpl == 0);
  CHECK(c.cs.db == 0);
  CHECK(c.cs.s == 1);
  CHECK(c.cs.l == 1);
  CHECK(c.cs.g == 1);
  CHECK(c.cs.unusable == 0);
}

}  // namespace

TEST_SUITE("delivery") {

TEST_CASE("ring 3 -> ring 0: stack switch to TSS.RSP0, exact frame and registers") {
  Machine m;
  CpuState c = user();
  const CpuState before = c;
  DeliveryResult r = deliver(c, m.mem, external(0x20));
  REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
  CHECK(r.detail == "");
  CHECK(r.delivered_vector == 0x20);
  // Frame at RSP0 - 40, through the page tables (linear 0x1ffd8 = physical 0x60fd8).
  CHECK(c.gpr[accel::rsp] == kRsp0 - 40);
  CHECK(m.qwords(kStack0Phys + 0x1000 - 40, 5) ==
        std::vector<uint64_t>{0x401234, kUserCs, 0x44346, 0x40ff8, kUserSs});
  CHECK(m.get64(kStack0Phys + 0x1000 - 48) == 0u);  // nothing below the frame
  CHECK(c.rip == handler(0x20));
  check_kernel_cs(c);
  // SS: null selector with RPL 0, hidden part a flat data segment with DPL 0.
  CHECK(c.ss.selector == 0);
  CHECK(c.ss.base == 0u);
  CHECK(c.ss.limit == 0xffffffffu);
  CHECK(c.ss.type == 0x3);
  CHECK(c.ss.present == 1);
  CHECK(c.ss.dpl == 0);
  CHECK(c.ss.s == 1);
  CHECK(c.ss.unusable == 0);
  // TF, NT, IF cleared (interrupt gate); AC and the arithmetic flags kept.
  CHECK(c.rflags == 0x40046u);
  // Everything else as it was.
  for (unsigned i = 0; i < 16; ++i)
    if (i != accel::rsp) CHECK(c.gpr[i] == before.gpr[i]);
  CHECK(same_segment(c.ds, before.ds));
  CHECK(same_segment(c.tr, before.tr));
  CHECK(c.cr2 == 0u);
  // The user stack was not touched, and the walk set accessed/dirty bits.
  CHECK(m.qwords(kUserStackPhys + 0xfd0, 6) == std::vector<uint64_t>(6, 0));
  CHECK(m.pte(kRsp0 - 0x1000) == (kStack0Phys | kP | kRW | kA | kD));
  CHECK(m.pte(kIdt) == (kIdtPhys | kP | kRW | kA));
  CHECK(m.pte(kGdt) == (kGdtPhys | kP | kRW | kA));
  CHECK(m.pte(kTss) == (kTssPhys | kP | kRW | kA));
  CHECK(m.get64(kPml4) == (kPdpt | kP | kRW | kA));
}

TEST_CASE("ring 3 -> ring 0 with 5-level paging") {
  Machine m;
  m.put64(kPml5, kPml4 | kP | kRW);
  CpuState c = user();
  c.cr4 |= kCr4La57;
  c.cr3 = kPml5;
  REQUIRE(deliver(c, m.mem, external(0x20)).outcome == DeliveryResult::Outcome::delivered);
  CHECK(c.gpr[accel::rsp] == kRsp0 - 40);
  CHECK(m.qwords(kStack0Phys + 0x1000 - 40, 5) ==
        std::vector<uint64_t>{0x401234, kUserCs, 0x44346, 0x40ff8, kUserSs});
  CHECK(m.get64(kPml5) == (kPml4 | kP | kRW | kA));
}

TEST_CASE("the delivery reports every page it wrote: the frame and the tables whose bits it set") {
  Machine m;
  CpuState c = user();
  DeliveryResult r = deliver(c, m.mem, external(0x20));
  REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
  // The frame's page; the PT, PD, PDPT and PML4 pages (accessed bits, the stack's PTE also dirty).
  CHECK(r.pages_written == std::vector<uint64_t>{kPml4, kPdpt, kPd, kPt, kStack0Phys});
  // Once the bits are set, a second delivery writes only its frame.
  c = user();
  DeliveryResult again = deliver(c, m.mem, external(0x20));
  CHECK(again.pages_written == std::vector<uint64_t>{kStack0Phys});
  // A frame that straddles two pages reports both.
  Machine m2;
  m2.map(kRsp0, kStack0Phys + 0x1000);
  m2.put64(kTssPhys + 4, kRsp0 + 16);
  CpuState c2 = user();
  DeliveryResult r2 = deliver(c2, m2.mem, external(0x20));
  REQUIRE(r2.outcome == DeliveryResult::Outcome::delivered);
  CHECK(std::count(r2.pages_written.begin(), r2.pages_written.end(), kStack0Phys) == 1);
  CHECK(std::count(r2.pages_written.begin(), r2.pages_written.end(), kStack0Phys + 0x1000) == 1);
}

TEST_CASE("a frame write the write guard refuses (the power failed): write_refused, the CPU as given") {
  Machine m;
  WriteGuard guard(m.buf.size() / 4096, [](uint64_t) { return false; });  // every backup fails
  m.mem.set_write_guard(&guard);
  guard.guard(kStack0Phys / 4096, 1);
  const uint64_t before = m.get64(kStack0Phys + 0xff8);
  CpuState c = user();
  const CpuState given = c;
  DeliveryResult r = deliver(c, m.mem, external(0x20));
  CHECK(r.outcome == DeliveryResult::Outcome::write_refused);
  CHECK(c.rip == given.rip);
  CHECK(c.gpr[accel::rsp] == given.gpr[accel::rsp]);
  CHECK(c.cs.selector == given.cs.selector);
  CHECK(m.get64(kStack0Phys + 0xff8) == before);  // no byte of the frame landed
  // The table pages whose bits landed are listed; the frame's page is not.
  CHECK(std::count(r.pages_written.begin(), r.pages_written.end(), kStack0Phys) == 0);
  CHECK(std::count(r.pages_written.begin(), r.pages_written.end(), kPt) == 1);
  // Unguarded, the same delivery goes through.
  guard.unguard(kStack0Phys / 4096, 1);
  c = user();
  CHECK(deliver(c, m.mem, external(0x20)).outcome == DeliveryResult::Outcome::delivered);
}

TEST_CASE("ring 3 -> ring 1: TSS.RSP1, SS = null selector with RPL 1") {
  Machine m;
  CpuState c = user();
  REQUIRE(deliver(c, m.mem, external(0x24)).outcome == DeliveryResult::Outcome::delivered);
  CHECK(c.gpr[accel::rsp] == kRsp1 - 40);
  CHECK(m.qwords(kStack1Phys + 0x1000 - 40, 5) == std::vector<uint64_t>{0x401234, kUserCs, 0x44346, 0x40ff8, kUserSs});
  CHECK(c.cs.selector == (kRing1Cs | 1));
  CHECK(c.cs.dpl == 1);
  CHECK(c.ss.selector == 1);
  CHECK(c.ss.dpl == 1);
  CHECK(c.ss.present == 1);
  CHECK(c.ss.unusable == 0);
  // CPL is now 1 (CS.RPL): a nested interrupt to ring 1 stays on this stack.
  REQUIRE(deliver(c, m.mem, external(0x24)).outcome == DeliveryResult::Outcome::delivered);
  CHECK(c.gpr[accel::rsp] == kRsp1 - 48 - 40);  // 0x48fd8 aligned to 0x48fd0, then 5 qwords
  CHECK(m.qwords(kStack1Phys + 0xfd0 - 40, 5) == std::vector<uint64_t>{handler(0x24), kRing1Cs | 1, 0x40046, kRsp1 - 40, 1});
}

TEST_CASE("conforming code segment: no privilege change, CS.RPL stays the CPL") {
  Machine m;
  CpuState c = user();
  REQUIRE(deliver(c, m.mem, external(0x25)).outcome == DeliveryResult::Outcome::delivered);
  // On the user stack (page 0x40000 -> 0x80000): 0x40ff8 aligned to 0x40ff0.
  CHECK(c.gpr[accel::rsp] == 0x40ff0u - 40);
  CHECK(m.qwords(kUserStackPhys + 0xff0 - 40, 5) == std::vector<uint64_t>{0x401234, kUserCs, 0x44346, 0x40ff8, kUserSs});
  CHECK(c.cs.selector == (kConformingCs | 3));
  CHECK(c.cs.dpl == 0);
  CHECK(c.cs.type == 0xf);
  CHECK(c.ss.selector == kUserSs);
  CHECK(c.rflags == 0x40246u);  // trap gate
  // The CPL is CS.RPL (3), not the conforming segment's DPL (0): `int 0x81` (gate DPL 0) still faults.
  c.rip = 0x401002;
  CHECK(deliver(c, m.mem, software(0x81)).delivered_vector == 13);
}

TEST_CASE("ring 0 -> ring 0: no stack switch, RSP aligned down to 16, trap gate keeps IF") {
  Machine m;
  CpuState c = kernel();
  const Segment ss = c.ss;
  REQUIRE(deliver(c, m.mem, external(0x21)).outcome == DeliveryResult::Outcome::delivered);
  // RSP 0x50f38 -> 0x50f30, frame of 5 below it.
  CHECK(c.gpr[accel::rsp] == kKStack + 0xf30 - 40);
  CHECK(m.qwords(kKStackPhys + 0xf30 - 40, 5) ==
        std::vector<uint64_t>{0xffffffff81234567ull, kKernelCs, 0x246, kKStack + 0xf38, kKernelSs});
  CHECK(m.get64(kKStackPhys + 0xf30) == 0u);  // the 8 bytes skipped by the alignment are untouched
  CHECK(same_segment(c.ss, ss));
  check_kernel_cs(c);
  CHECK(c.rip == handler(0x21));
  CHECK(c.rflags == 0x246u);  // trap gate: IF stays set
  // The IDT at physical 0x50000 (linear 0x10000) is intact: the stack went to physical 0x90000.
  CHECK(m.get64(kIdtPhys + 0x20 * 16 + 8) == (handler(0x20) >> 32));
}

TEST_CASE("interrupt gate clears IF, trap gate does not") {
  Machine m;
  CpuState a = kernel(), b = kernel();
  a.rflags = b.rflags = 0x2 | kIF | kTF | kNT | kRF;
  REQUIRE(deliver(a, m.mem, external(0x20)).outcome == DeliveryResult::Outcome::delivered);
  REQUIRE(deliver(b, m.mem, external(0x21)).outcome == DeliveryResult::Outcome::delivered);
  CHECK(a.rflags == 0x2u);
  CHECK(b.rflags == (0x2u | kIF));
  // The pushed image is RFLAGS as it was.
  CHECK(m.get64(kKStackPhys + 0xf30 - 24) == (0x2 | kIF | kTF | kNT | kRF));
}

TEST_CASE("RSP0 not aligned: the frame starts at RSP0 rounded down to 16") {
  Machine m;
  m.put64(kTssPhys + 4, kRsp0 - 4);  // 0x1fffc -> 0x1fff0
  CpuState c = user();
  REQUIRE(deliver(c, m.mem, external(0x20)).outcome == DeliveryResult::Outcome::delivered);
  CHECK(c.gpr[accel::rsp] == 0x1fff0u - 40);
  CHECK(m.qwords(kStack0Phys + 0xff0 - 40, 5) == std::vector<uint64_t>{0x401234, kUserCs, 0x44346, 0x40ff8, kUserSs});
  CHECK(m.get64(kStack0Phys + 0xff8) == 0u);
}

TEST_CASE("IST: from ring 0 the stack still switches, SS stays") {
  Machine m;
  CpuState c = kernel();
  const Segment ss = c.ss;
  auto r = deliver(c, m.mem, external(2));
  REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
  CHECK(c.gpr[accel::rsp] == kIst1 - 40);
  CHECK(m.qwords(kIst1Phys + 0x1000 - 40, 5) ==
        std::vector<uint64_t>{0xffffffff81234567ull, kKernelCs, 0x246, kKStack + 0xf38, kKernelSs});
  CHECK(m.qwords(kKStackPhys + 0xf00, 8) == std::vector<uint64_t>(8, 0));  // old stack untouched
  CHECK(same_segment(c.ss, ss));
  CHECK(c.rip == handler(2));
  CHECK(c.rflags == 0x46u);
}

TEST_CASE("IST from ring 3: IST wins over RSP0, SS becomes null") {
  Machine m;
  CpuState c = user();
  REQUIRE(deliver(c, m.mem, external(0x22)).outcome == DeliveryResult::Outcome::delivered);
  CHECK(c.gpr[accel::rsp] == kIst1 - 40);
  CHECK(m.qwords(kIst1Phys + 0x1000 - 40, 5) == std::vector<uint64_t>{0x401234, kUserCs, 0x44346, 0x40ff8, kUserSs});
  CHECK(m.qwords(kStack0Phys + 0xfd0, 6) == std::vector<uint64_t>(6, 0));  // RSP0 stack untouched
  CHECK(c.ss.selector == 0);
  CHECK(c.ss.dpl == 0);
}

TEST_CASE("#PF: error code pushed, CR2 set, RF set in the pushed RFLAGS") {
  Machine m;
  CpuState c = user();
  c.rip = 0x401000;  // the faulting instruction
  auto r = deliver(c, m.mem, exception(14, 0x6, 0xdead0000));
  REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
  CHECK(r.delivered_vector == 14);
  CHECK(c.cr2 == 0xdead0000u);
  CHECK(c.gpr[accel::rsp] == kRsp0 - 48);
  CHECK(m.qwords(kStack0Phys + 0x1000 - 48, 6) ==
        std::vector<uint64_t>{0x6, 0x401000, kUserCs, 0x44346 | kRF, 0x40ff8, kUserSs});
  CHECK(c.rip == handler(14));
  CHECK(c.rflags == 0x40046u);
}

TEST_CASE("#GP from ring 0: error code pushed") {
  Machine m;
  CpuState c = kernel();
  REQUIRE(deliver(c, m.mem, exception(13, 0x1234)).outcome == DeliveryResult::Outcome::delivered);
  CHECK(c.gpr[accel::rsp] == kKStack + 0xf30 - 48);
  CHECK(m.qwords(kKStackPhys + 0xf30 - 48, 6) ==
        std::vector<uint64_t>{0x1234, 0xffffffff81234567ull, kKernelCs, 0x246 | kRF, kKStack + 0xf38, kKernelSs});
  CHECK(c.cr2 == 0u);
}

TEST_CASE("no error code for external and software events with error-code vectors") {
  Machine m;
  m.gate(14, 0xe, 3);  // int 14 allowed from ring 3 for this test
  CpuState a = kernel();
  a.cr2 = 0x77;
  REQUIRE(deliver(a, m.mem, Event{14, Kind::external, true, 0x99, 0x1234, 0}).outcome ==
          DeliveryResult::Outcome::delivered);
  CHECK(a.gpr[accel::rsp] == kKStack + 0xf30 - 40);
  CHECK(m.qwords(kKStackPhys + 0xf30 - 40, 5) ==
        std::vector<uint64_t>{0xffffffff81234567ull, kKernelCs, 0x246, kKStack + 0xf38, kKernelSs});
  CHECK(a.cr2 == 0x77u);  // only a #PF exception sets CR2

  CpuState b = user();
  b.rip = 0x401002;  // after `int 14`
  REQUIRE(deliver(b, m.mem, software(14)).outcome == DeliveryResult::Outcome::delivered);
  CHECK(b.gpr[accel::rsp] == kRsp0 - 40);
  CHECK(m.qwords(kStack0Phys + 0x1000 - 40, 5) == std::vector<uint64_t>{0x401002, kUserCs, 0x44346, 0x40ff8, kUserSs});
}

TEST_CASE("software int through a DPL 3 gate from ring 3") {
  Machine m;
  CpuState c = user();
  c.rip = 0x401002;  // after `int 0x80`
  auto r = deliver(c, m.mem, software(0x80));
  REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
  CHECK(r.delivered_vector == 0x80);
  CHECK(c.rip == handler(0x80));
  CHECK(m.qwords(kStack0Phys + 0x1000 - 40, 5) == std::vector<uint64_t>{0x401002, kUserCs, 0x44346, 0x40ff8, kUserSs});
}

TEST_CASE("software int with gate DPL < CPL delivers #GP(vector*8+2) for the int instruction") {
  Machine m;
  CpuState c = user();
  c.rip = 0x401002;  // after the 2-byte `int 0x81` at 0x401000
  auto r = deliver(c, m.mem, software(0x81));
  REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
  CHECK(r.delivered_vector == 13);
  CHECK(r.detail == "#GP(0x40a) (IDT entry 0x81 has DPL 0 < CPL 3) while delivering int 0x81");
  CHECK(c.rip == handler(13));
  CHECK(c.gpr[accel::rsp] == kRsp0 - 48);
  // Error code 0x81*8+2 (IDT, no EXT: a software event), RIP of the int itself, RF set (a fault).
  CHECK(m.qwords(kStack0Phys + 0x1000 - 48, 6) ==
        std::vector<uint64_t>{0x40a, 0x401000, kUserCs, 0x44346 | kRF, 0x40ff8, kUserSs});

  // From ring 0 the same int goes through.
  CpuState k = kernel();
  REQUIRE(deliver(k, m.mem, software(0x81)).delivered_vector == 0x81);

  // Without the instruction length the rip is pushed as given.
  CpuState u = user();
  u.rip = 0x401002;
  REQUIRE(deliver(u, m.mem, software(0x81, 0)).delivered_vector == 13);
  CHECK(m.get64(kStack0Phys + 0x1000 - 40) == 0x401002u);
}

TEST_CASE("not-present gate: #NP for an external interrupt, #DF for a contributory exception") {
  Machine m;
  CpuState c = kernel();
  auto r = deliver(c, m.mem, external(0x40));
  REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
  CHECK(r.delivered_vector == 11);
  CHECK(r.detail == "#NP(0x203) (IDT entry 0x40 not present) while delivering external interrupt 0x40");
  // 0x40*8 + 2 (IDT) + 1 (EXT)
  CHECK(m.qwords(kKStackPhys + 0xf30 - 48, 6) ==
        std::vector<uint64_t>{0x203, 0xffffffff81234567ull, kKernelCs, 0x246 | kRF, kKStack + 0xf38, kKernelSs});
  CHECK(c.rip == handler(11));

  // #GP whose gate is not present: #NP while delivering #GP -> #DF (on IST2, error code 0).
  Machine n;
  n.gate(13, 0xe, 0, 0, false);
  CpuState g = kernel();
  auto d = deliver(g, n.mem, exception(13, 0));
  REQUIRE(d.outcome == DeliveryResult::Outcome::delivered);
  CHECK(d.delivered_vector == 8);
  CHECK(d.detail == "#NP(0x6b) (IDT entry 0xd not present) while delivering #GP(0x0) -> #DF");
  CHECK(g.rip == handler(8));
  CHECK(g.gpr[accel::rsp] == kIst2 - 48);
  CHECK(n.qwords(kIst2Phys + 0x1000 - 48, 6) ==
        std::vector<uint64_t>{0, 0xffffffff81234567ull, kKernelCs, 0x246, kKStack + 0xf38, kKernelSs});
}

TEST_CASE("bad gates and code segments") {
  Machine m;
  struct Case {
    uint8_t vector;
    uint8_t delivered;
    uint32_t error;
  } cases[] = {
      {0x41, 11, kAbsentCs | 1},  // code segment not present: #NP(selector + EXT)
      {0x42, 13, 0x42 * 8 + 3},   // call gate: #GP(IDT + EXT)
      {0x43, 13, kCode32 | 1},    // 32-bit code segment: #GP(selector + EXT)
      {0x44, 13, 0x50 | 1},       // beyond the GDT limit: #GP(selector + EXT)
      {0x45, 13, 0x18 | 1},       // data segment: #GP(selector without RPL + EXT)
      {0x46, 13, 1},              // null selector: #GP(EXT)
  };
  for (const auto& k : cases) {
    CAPTURE(k.vector);
    CpuState c = kernel();
    auto r = deliver(c, m.mem, external(k.vector));
    REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
    CHECK(r.delivered_vector == k.delivered);
    CHECK(m.get64(kKStackPhys + 0xf30 - 48) == k.error);
  }
  // Vector beyond the IDT limit: #GP(vector*8+2+EXT).
  CpuState c = kernel();
  c.idt.limit = 0x21 * 16 - 1;  // entries 0-0x20
  auto r = deliver(c, m.mem, external(0x21));
  REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
  CHECK(r.delivered_vector == 13);
  CHECK(m.get64(kKStackPhys + 0xf30 - 48) == 0x21u * 8 + 3);
  // IST3 beyond the TSS limit: #TS(TR selector + EXT).
  CpuState k = kernel();
  k.tr.limit = 0x33;  // up to IST2
  auto t = deliver(k, m.mem, external(0x23));
  REQUIRE(t.outcome == DeliveryResult::Outcome::delivered);
  CHECK(t.delivered_vector == 10);
  CHECK(t.detail == "#TS(0x39) (TSS.IST3 beyond the TSS limit 0x33) while delivering external interrupt 0x23");
  CHECK(m.get64(kKStackPhys + 0xf30 - 48) == 0x39u);
}

TEST_CASE("nested delivery: the second frame lands below the first") {
  Machine m;
  CpuState c = user();
  REQUIRE(deliver(c, m.mem, external(0x20)).outcome == DeliveryResult::Outcome::delivered);
  REQUIRE(c.gpr[accel::rsp] == kRsp0 - 40);  // 0x1ffd8
  // The handler faults at its first instruction.
  auto r = deliver(c, m.mem, exception(14, 0x2, 0xbad000));
  REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
  // 0x1ffd8 aligned to 0x1ffd0, six qwords below.
  CHECK(c.gpr[accel::rsp] == 0x1ffd0u - 48);
  CHECK(m.qwords(kStack0Phys + 0xfd0 - 48, 6) ==
        std::vector<uint64_t>{0x2, handler(0x20), kKernelCs, 0x40046 | kRF, kRsp0 - 40, 0 /* null SS */});
  // The first frame is intact above it.
  CHECK(m.qwords(kStack0Phys + 0x1000 - 40, 5) == std::vector<uint64_t>{0x401234, kUserCs, 0x44346, 0x40ff8, kUserSs});
  CHECK(c.rip == handler(14));
  CHECK(c.cr2 == 0xbad000u);
  CHECK(c.ss.selector == 0);
  check_kernel_cs(c);
}

TEST_CASE("unmapped stack: #PF, #PF again -> #DF on its IST stack") {
  Machine m;
  CpuState c = kernel();
  c.gpr[accel::rsp] = kUnmapped + 0x100;
  auto r = deliver(c, m.mem, external(0x20));
  REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
  CHECK(r.delivered_vector == 8);
  CHECK(r.detail ==
        "#PF(0x2) (stack at 0x700f8 not mapped) while delivering external interrupt 0x20; "
        "#PF(0x2) (stack at 0x700f8 not mapped) while delivering #PF(0x2) -> #DF");
  CHECK(c.cr2 == 0x700f8u);
  CHECK(c.gpr[accel::rsp] == kIst2 - 48);
  CHECK(m.qwords(kIst2Phys + 0x1000 - 48, 6) ==
        std::vector<uint64_t>{0, 0xffffffff81234567ull, kKernelCs, 0x246, kUnmapped + 0x100, kKernelSs});
  CHECK(c.rip == handler(8));
}

TEST_CASE("unmapped stack and #DF without IST: triple fault, CPU left as it was") {
  Machine m;
  m.gate(8, 0xe);  // #DF on the current stack
  CpuState c = kernel();
  c.gpr[accel::rsp] = kUnmapped + 0x100;
  const CpuState before = c;
  auto r = deliver(c, m.mem, external(0x20));
  CHECK(r.outcome == DeliveryResult::Outcome::triple_fault);
  CHECK(r.detail ==
        "triple fault: #PF(0x2) (stack at 0x700f8 not mapped) while delivering #DF(0x0) (after "
        "#PF(0x2) (stack at 0x700f8 not mapped) while delivering external interrupt 0x20; "
        "#PF(0x2) (stack at 0x700f8 not mapped) while delivering #PF(0x2) -> #DF)");
  CHECK(std::memcmp(&c, &before, sizeof c) == 0);
  // The walks set accessed bits on the way to the unmapped stack: those
  // table pages are reported (the dirty log must see them), once each.
  CHECK(std::count(r.pages_written.begin(), r.pages_written.end(), kPml4) == 1);
  CHECK(std::is_sorted(r.pages_written.begin(), r.pages_written.end()));
  CHECK(std::adjacent_find(r.pages_written.begin(), r.pages_written.end()) == r.pages_written.end());
}

TEST_CASE("read-only stack with CR0.WP: #PF with P and W set; without WP the write goes through") {
  Machine m;
  CpuState c = kernel();
  c.gpr[accel::rsp] = kReadOnly + 0x800;
  auto r = deliver(c, m.mem, external(0x20));
  REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
  CHECK(r.delivered_vector == 8);  // #PF, then #PF again -> #DF
  CHECK(c.cr2 == kReadOnly + 0x7f8);
  CHECK(m.qwords(kReadOnlyPhys + 0x800 - 48, 6) == std::vector<uint64_t>(6, 0));

  CpuState w = kernel();
  w.cr0 &= ~kCr0Wp;
  w.gpr[accel::rsp] = kReadOnly + 0x800;
  REQUIRE(deliver(w, m.mem, external(0x20)).delivered_vector == 0x20);
  CHECK(m.qwords(kReadOnlyPhys + 0x800 - 40, 5) ==
        std::vector<uint64_t>{0xffffffff81234567ull, kKernelCs, 0x246, kReadOnly + 0x800, kKernelSs});
  CHECK(m.pte(kReadOnly) == (kReadOnlyPhys | kP | kA | kD));
}

TEST_CASE("read-only stack: the #PF error code has P and W") {
  Machine m;
  m.gate(14, 0xe, 0, 1);  // #PF on IST1, a good stack
  CpuState c = kernel();
  c.gpr[accel::rsp] = kReadOnly + 0x800;
  auto r = deliver(c, m.mem, external(0x20));
  REQUIRE(r.outcome == DeliveryResult::Outcome::delivered);
  CHECK(r.delivered_vector == 14);
  CHECK(m.get64(kIst1Phys + 0x1000 - 48) == 0x3u);
  CHECK(c.cr2 == kReadOnly + 0x7f8);
}

TEST_CASE("outside 64-bit mode nothing is delivered") {
  Machine m;
  CpuState c;  // real mode
  auto r = deliver(c, m.mem, external(0x20));
  CHECK(r.outcome == DeliveryResult::Outcome::triple_fault);
  CHECK(r.detail == "interrupt delivery outside 64-bit mode is not supported");
  c.cr0 = kCr0Pe;  // protected mode, no paging
  CHECK(deliver(c, m.mem, external(0x20)).outcome == DeliveryResult::Outcome::triple_fault);
}

TEST_CASE("a halted CPU runs again; the interrupt shadow is cleared") {
  Machine m;
  CpuState c = kernel();
  c.run_state = accel::RunState::halted;
  c.interrupt_shadow = 1;
  REQUIRE(deliver(c, m.mem, external(0x20)).outcome == DeliveryResult::Outcome::delivered);
  CHECK(c.run_state == accel::RunState::running);
  CHECK(c.interrupt_shadow == 0);
}

TEST_CASE("can_take_external") {
  CpuState c;
  CHECK_FALSE(accel::tcg::can_take_external(c));
  c.rflags |= kIF;
  CHECK(accel::tcg::can_take_external(c));
  c.interrupt_shadow = 1;
  CHECK_FALSE(accel::tcg::can_take_external(c));
}

TEST_CASE("has_error_code") {
  std::vector<unsigned> with;
  for (unsigned v = 0; v < 256; ++v)
    if (accel::tcg::has_error_code(uint8_t(v))) with.push_back(v);
  CHECK(with == std::vector<unsigned>{8, 10, 11, 12, 13, 14, 17, 21, 29, 30});
}

}  // TEST_SUITE
