// The software CPU's TLB fill decisions (vmm/accel/tcg/tlb_fill.cpp)
// against hand-built 4-level page tables: rights per CPL and CR0.WP, the
// #PF error codes, accessed/dirty bits and the table pages they dirty.
#include <doctest/doctest.h>

#include <vector>

#include "vmm/accel/tcg/tlb_fill.h"
#include "vmm/core/write_guard.h"

using namespace hsls;
using namespace hsls::accel;
using namespace hsls::accel::tcg;

namespace {

constexpr uint64_t P = 1, W = 2, U = 4, A = 1u << 5, D = 1u << 6;

struct Tables {
  std::vector<uint8_t> ram = std::vector<uint8_t>(1 << 20);
  GuestMemory mem{ram.data(), ram.size()};
  CpuState cpu;
  Tables() {
    auto put = [&](uint64_t gpa, uint64_t v) { mem.write(gpa, &v, 8); };
    put(0x1000, 0x2000 | P | W | U | A);           // PML4[0]
    put(0x2000, 0x3000 | P | W | U | A);           // PDPT[0]
    put(0x3000 + 2 * 8, 0x4000 | P | W | U | A);   // PD[2]: 0x400000
    put(0x4000, 0x10000 | P | W | U | A);          // 0x400000: user, writable, dirty bit clear
    put(0x4000 + 8, 0x11000 | P | A | D);          // 0x401000: supervisor, read-only
    cpu.cr0 = 0x80000001 | (1u << 16);             // PG, PE, WP
    cpu.cr3 = 0x1000;
    cpu.cr4 = 1u << 5;                             // PAE
    cpu.efer = (1u << 8) | (1u << 10) | (1u << 11);  // LME, LMA, NXE
  }
  uint64_t pte(unsigned i) {
    uint64_t v = 0;
    mem.read(0x4000 + 8 * i, &v, 8);
    return v;
  }
};

}  // namespace

TEST_CASE("tlb fill: a user store maps writable and sets the dirty bit, dirtying the table page") {
  Tables t;
  t.cpu.cs.selector = 0x33;
  auto d = decide_fill(t.mem, t.cpu, 0x400123, FillAccess::write);
  REQUIRE(d.kind == FillDecision::Kind::map);
  CHECK(d.phys_page == 0x10000);
  CHECK(d.writable);
  CHECK(d.dirty);
  CHECK((t.pte(0) & D) != 0);
  REQUIRE(d.tables_written_count == 1);
  CHECK(d.tables_written[0] == 0x4000);
  // Again: nothing left to set, no table written.
  auto again = decide_fill(t.mem, t.cpu, 0x400000, FillAccess::read);
  CHECK(again.tables_written_count == 0);
  CHECK(again.dirty);
}

TEST_CASE("tlb fill: a load of a clean page reports it clean (its first store must miss again)") {
  Tables t;
  t.cpu.cs.selector = 0x33;
  auto d = decide_fill(t.mem, t.cpu, 0x400000, FillAccess::read);
  REQUIRE(d.kind == FillDecision::Kind::map);
  CHECK(d.writable);
  CHECK_FALSE(d.dirty);
  CHECK((t.pte(0) & D) == 0);
}

TEST_CASE("tlb fill: page-fault error codes as the CPU reports them") {
  Tables t;
  t.cpu.cs.selector = 0x33;  // CPL 3
  auto user_read_super = decide_fill(t.mem, t.cpu, 0x401000, FillAccess::read);
  CHECK(user_read_super.kind == FillDecision::Kind::page_fault);
  CHECK(user_read_super.pf_error == (kPfErrPresent | kPfErrUser));
  auto not_present = decide_fill(t.mem, t.cpu, 0x402000, FillAccess::write);
  CHECK(not_present.kind == FillDecision::Kind::page_fault);
  CHECK(not_present.pf_error == (kPfErrWrite | kPfErrUser));
  auto fetch = decide_fill(t.mem, t.cpu, 0x403000, FillAccess::fetch);
  CHECK(fetch.pf_error == (kPfErrUser | kPfErrFetch));  // I/D set: NXE is on

  t.cpu.cs.selector = 0x08;  // CPL 0
  auto super_write_ro = decide_fill(t.mem, t.cpu, 0x401000, FillAccess::write);
  CHECK(super_write_ro.kind == FillDecision::Kind::page_fault);
  CHECK(super_write_ro.pf_error == (kPfErrPresent | kPfErrWrite));
  t.cpu.cr0 &= ~uint64_t(1u << 16);  // WP off: the kernel may write read-only pages
  auto no_wp = decide_fill(t.mem, t.cpu, 0x401000, FillAccess::write);
  CHECK(no_wp.kind == FillDecision::Kind::map);
  CHECK(no_wp.phys_page == 0x11000);
}

TEST_CASE("tlb fill: non-canonical is #GP; paging off maps identity") {
  Tables t;
  CHECK(decide_fill(t.mem, t.cpu, 0x0000800000000000ull, FillAccess::read).kind == FillDecision::Kind::gp_fault);
  t.cpu.cr0 = 1;
  t.cpu.efer = 0;
  auto d = decide_fill(t.mem, t.cpu, 0x12345, FillAccess::write);
  CHECK(d.kind == FillDecision::Kind::map);
  CHECK(d.phys_page == 0x12000);
  CHECK(d.writable);
}

TEST_CASE("tlb fill: a dirty-bit write the write guard refuses (the power failed) is reported, not listed") {
  Tables t;
  t.cpu.cs.selector = 0x33;
  WriteGuard guard(t.ram.size() / 4096, [](uint64_t) { return false; });  // every backup fails
  t.mem.set_write_guard(&guard);
  guard.guard(0x4000 / 4096, 1);  // the page table holding the PTE
  auto d = decide_fill(t.mem, t.cpu, 0x400123, FillAccess::write);
  CHECK(d.tables_refused);
  CHECK(d.tables_written_count == 0);
  CHECK((t.pte(0) & D) == 0);  // nothing landed
  t.mem.set_write_guard(nullptr);
  auto ok = decide_fill(t.mem, t.cpu, 0x400123, FillAccess::write);
  CHECK_FALSE(ok.tables_refused);
  CHECK(ok.tables_written_count == 1);
}
