// debug::translate walks guest page tables built here in a buffer-backed
// GuestMemory: 4-level long mode (4 KiB, 2 MiB, 1 GiB pages), 5-level,
// PAE and 32-bit paging, and unmapped addresses; the CPU state is the
// backend-neutral accel::CpuState. Also debug::walk (the page walk under
// translate), cpu_bits and disassemble.
#include <doctest/doctest.h>

#include <vector>

#include "vmm/accel/cpu_state.h"
#include "vmm/core/guest_memory.h"
#include "vmm/debug/inspect.h"
#include "vmm/debug/page_walk.h"

using namespace hsls;
using accel::CpuState;
using debug::translate;

namespace {

constexpr uint64_t kP = 1, kRW = 2, kUS = 4, kA = 1ull << 5, kD = 1ull << 6, kPS = 1ull << 7, kNX = 1ull << 63;
constexpr uint64_t kCr0Pe = 1, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pse = 1ull << 4, kCr4Pae = 1ull << 5, kCr4La57 = 1ull << 12;
constexpr uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;

// 32 MiB of guest RAM plus helpers to write table entries.
struct Guest {
  std::vector<uint8_t> buf = std::vector<uint8_t>(32ull << 20, 0);
  GuestMemory mem{buf.data(), buf.size()};

  void set64(uint64_t table, unsigned index, uint64_t entry) { REQUIRE(mem.write(table + index * 8, &entry, 8)); }
  void set32(uint64_t table, unsigned index, uint32_t entry) { REQUIRE(mem.write(table + index * 4, &entry, 4)); }
};

CpuState long_mode(uint64_t cr3, bool la57 = false) {
  CpuState s;
  s.cr0 = kCr0Pe | kCr0Pg;
  s.cr4 = kCr4Pae | (la57 ? kCr4La57 : 0);
  s.efer = kEferLme | kEferLma;
  s.cr3 = cr3;
  return s;
}

unsigned idx(uint64_t linear, unsigned level) { return unsigned((linear >> (12 + 9 * (level - 1))) & 511); }

// Tables for 4-level paging:
//   PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000
//   0x0000_0040_0000 + 5 pages: 4 KiB pages -> 0x123000 (page 5), page 6 absent
//   0x0000_0020_0000: 2 MiB page -> 0xa00000
//   0x0000_4000_0000: 1 GiB page -> 0x8000_0000
//   0xffff_ffff_8000_0000: PML4[511] -> PDPT 0x6000 [510] -> PD 0x7000 [0]: 2 MiB -> 0x1000000
//   PD[3] points to a table outside RAM.
struct FourLevel : Guest {
  static constexpr uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kPt = 0x4000;
  static constexpr uint64_t kHiPdpt = 0x6000, kHiPd = 0x7000;
  FourLevel() {
    set64(kPml4, 0, kPdpt | kP | kRW);
    set64(kPdpt, 0, kPd | kP | kRW);
    set64(kPd, 1, 0xa00000 | kP | kRW | kPS);
    set64(kPd, 2, kPt | kP | kRW | kUS);
    set64(kPt, 5, 0x123000 | kP | kRW | kA | kD | kNX);
    set64(kPt, 7, 0x124000 | kRW);  // not present
    set64(kPd, 3, (1ull << 40) | kP);  // table outside RAM
    set64(kPdpt, 1, 0x80000000ull | kP | kPS);
    set64(kPml4, 511, kHiPdpt | kP);
    set64(kHiPdpt, 510, kHiPd | kP);
    set64(kHiPd, 0, 0x1000000 | kP | kPS);
  }
};

}  // namespace

TEST_SUITE("translate") {

TEST_CASE("paging off: linear is physical (32 bits)") {
  Guest g;
  CpuState s;
  s.cr0 = kCr0Pe;
  CHECK(translate(g.mem, s, 0x1234) == 0x1234u);
  CHECK(translate(g.mem, s, 0x1'0000'1234ull) == 0x1234u);
}

TEST_CASE("4-level: a 4 KiB page") {
  FourLevel g;
  auto s = long_mode(FourLevel::kPml4);
  CHECK(translate(g.mem, s, 0x405abc) == 0x123abcu);  // NX and flag bits are not address bits
  CHECK(translate(g.mem, s, 0x405000) == 0x123000u);
  CHECK(translate(g.mem, s, 0x405fff) == 0x123fffu);
}

TEST_CASE("4-level: a 2 MiB page") {
  FourLevel g;
  auto s = long_mode(FourLevel::kPml4);
  CHECK(translate(g.mem, s, 0x200000) == 0xa00000u);
  CHECK(translate(g.mem, s, 0x3edcba) == 0xbedcbau);
  CHECK(translate(g.mem, s, 0x3fffff) == 0xbfffffu);
}

TEST_CASE("4-level: a 2 MiB page's PAT bit (bit 12) is not an address bit") {
  FourLevel g;
  g.set64(FourLevel::kPd, 4, 0xc00000 | (1ull << 12) | kP | kPS);
  auto s = long_mode(FourLevel::kPml4);
  CHECK(translate(g.mem, s, 0x800000 + 0x1234) == 0xc01234u);
}

TEST_CASE("4-level: a 1 GiB page") {
  FourLevel g;
  auto s = long_mode(FourLevel::kPml4);
  CHECK(translate(g.mem, s, 0x40000000ull + 0x12345678) == 0x80000000ull + 0x12345678);
}

TEST_CASE("4-level: the higher half (PML4 entry 511)") {
  FourLevel g;
  auto s = long_mode(FourLevel::kPml4);
  CHECK(translate(g.mem, s, 0xffffffff80001234ull) == 0x1001234u);
  CHECK(idx(0xffffffff80001234ull, 4) == 511);
  CHECK(idx(0xffffffff80001234ull, 3) == 510);
}

TEST_CASE("4-level: unmapped addresses") {
  FourLevel g;
  auto s = long_mode(FourLevel::kPml4);
  CHECK_FALSE(translate(g.mem, s, 0x406000).has_value());        // PTE 6 zero
  CHECK_FALSE(translate(g.mem, s, 0x407000).has_value());        // PTE 7 not present
  CHECK_FALSE(translate(g.mem, s, 0x0).has_value());             // PDE 0 zero
  CHECK_FALSE(translate(g.mem, s, 0x600000).has_value());        // PDE 3 -> table outside RAM
  CHECK_FALSE(translate(g.mem, s, 0x80000000ull).has_value());   // PDPTE 2 zero
  CHECK_FALSE(translate(g.mem, s, 0x8000000000ull).has_value()); // PML4E 1 zero
  CHECK_FALSE(translate(g.mem, s, 0xffff800000000000ull).has_value());
  // CR3 outside RAM.
  auto bad = long_mode(1ull << 40);
  CHECK_FALSE(translate(g.mem, bad, 0x405000).has_value());
}

TEST_CASE("4-level: CR3's low flag bits are ignored") {
  FourLevel g;
  auto s = long_mode(FourLevel::kPml4 | 0x18);  // PWT|PCD
  CHECK(translate(g.mem, s, 0x405abc) == 0x123abcu);
}

TEST_CASE("5-level paging (LA57)") {
  Guest g;
  // PML5 0x10000 -> PML4 0x11000 -> PDPT 0x12000 -> PD 0x13000 (2 MiB page)
  uint64_t linear = (1ull << 48) | (2ull << 39) | (3ull << 30) | (4ull << 21) | 0x5678;
  g.set64(0x10000, idx(linear, 5), 0x11000 | kP);
  g.set64(0x11000, idx(linear, 4), 0x12000 | kP);
  g.set64(0x12000, idx(linear, 3), 0x13000 | kP);
  g.set64(0x13000, idx(linear, 2), 0x1400000 | kP | kPS);
  auto s = long_mode(0x10000, true);
  CHECK(translate(g.mem, s, linear) == 0x1405678u);
  // With LA57 off the same tables mean something else: PML4 at 0x10000 has no entry for it.
  CHECK_FALSE(translate(g.mem, long_mode(0x10000, false), linear).has_value());
}

TEST_CASE("PAE paging: 2 MiB and 4 KiB pages") {
  Guest g;
  // PDPT at 0x8020 (32-byte aligned), PD 0x9000, PT 0xa000.
  g.set64(0x8020, 1, 0x9000 | kP);  // 1-2 GiB
  g.set64(0x9000, 0, 0x600000 | kP | kPS);
  g.set64(0x9000, 1, 0xa000 | kP);
  g.set64(0xa000, 3, 0x777000 | kP | kNX);
  CpuState s;
  s.cr0 = kCr0Pe | kCr0Pg;
  s.cr4 = kCr4Pae;
  s.cr3 = 0x8020;
  CHECK(translate(g.mem, s, 0x40012345) == 0x612345u);
  CHECK(translate(g.mem, s, 0x40203abc) == 0x777abcu);
  CHECK_FALSE(translate(g.mem, s, 0x40204000).has_value());
  CHECK_FALSE(translate(g.mem, s, 0x12345).has_value());  // PDPTE 0 not present
}

TEST_CASE("32-bit paging: 4 MiB (PSE) and 4 KiB pages") {
  Guest g;
  // PD 0xb000, PT 0xc000.
  g.set32(0xb000, 1, 0x800000 | kP | kPS);
  g.set32(0xb000, 2, 0xc000 | kP);
  g.set32(0xc000, 0x10, 0x345000 | kP);
  CpuState s;
  s.cr0 = kCr0Pe | kCr0Pg;
  s.cr4 = kCr4Pse;
  s.cr3 = 0xb000;
  CHECK(translate(g.mem, s, 0x412345) == 0x812345u);
  CHECK(translate(g.mem, s, 0x810abc) == 0x345abcu);
  CHECK_FALSE(translate(g.mem, s, 0x811000).has_value());
  CHECK_FALSE(translate(g.mem, s, 0xc00000).has_value());
}

TEST_CASE("32-bit paging ignores PDE.PS when CR4.PSE is off") {
  Guest g;
  // With CR4.PSE = 0 the CPU ignores bit 7 of a PDE and uses it as a page-table pointer.
  g.set32(0xb000, 1, 0xc000 | kP | kPS);
  g.set32(0xc000, 0x12, 0x345000 | kP);
  CpuState s;
  s.cr0 = kCr0Pe | kCr0Pg;
  s.cr3 = 0xb000;
  CHECK(translate(g.mem, s, 0x412abc) == 0x345abcu);
}

TEST_CASE("cpu_bits") {
  CpuState s;
  CHECK(debug::cpu_bits(s) == 16);
  s.cs.db = 1;
  CHECK(debug::cpu_bits(s) == 32);
  s.efer = kEferLme | kEferLma;
  s.cs.db = 0;
  s.cs.l = 1;
  CHECK(debug::cpu_bits(s) == 64);
  s.cs.l = 0;  // compatibility mode
  s.cs.db = 1;
  CHECK(debug::cpu_bits(s) == 32);
}

TEST_CASE("disassemble reads guest-physical memory and labels with the linear address") {
  Guest g;
  const uint8_t code[] = {0x90, 0x48, 0x89, 0xd8, 0xc3};  // nop; mov rax, rbx; ret
  REQUIRE(g.mem.write(0x5000, code, sizeof code));
  auto insns = debug::disassemble(g.mem, 0x5000, 0xffffffff80000000ull, 3, 64);
  REQUIRE(insns.size() == 3);
  CHECK(insns[0].text == "nop");
  CHECK(insns[0].address == 0xffffffff80000000ull);
  CHECK(insns[1].bytes == "4889d8");
  CHECK(insns[1].text == "mov rax, rbx");
  CHECK(insns[1].address == 0xffffffff80000001ull);
  CHECK(insns[2].text == "ret");
  // Near the end of RAM it decodes what is there; outside RAM nothing.
  REQUIRE(g.mem.write(g.buf.size() - 1, code + 4, 1));
  auto last = debug::disassemble(g.mem, g.buf.size() - 1, 0, 4, 64);
  REQUIRE(last.size() == 1);
  CHECK(last[0].text == "ret");
  CHECK(debug::disassemble(g.mem, g.buf.size(), 0, 4, 64).empty());
}

}  // TEST_SUITE

TEST_SUITE("page walk") {

TEST_CASE("walk reports the entries used and the combined permissions") {
  FourLevel g;
  auto s = long_mode(FourLevel::kPml4);
  auto w = debug::walk(g.mem, s, 0x405abc);
  REQUIRE(w.has_value());
  CHECK(w->phys == 0x123abcu);
  CHECK(w->page_size == 4096u);
  CHECK(w->levels == 4u);
  CHECK(w->entry_size == 8u);
  CHECK(w->entry_gpa[0] == FourLevel::kPml4);
  CHECK(w->entry_gpa[1] == FourLevel::kPdpt);
  CHECK(w->entry_gpa[2] == FourLevel::kPd + 2 * 8);
  CHECK(w->entry_gpa[3] == FourLevel::kPt + 5 * 8);
  CHECK(w->entry[3] == (0x123000 | kP | kRW | kA | kD | kNX));
  CHECK(w->writable);         // R/W at all four levels
  CHECK_FALSE(w->user);       // PML4E and PDPTE lack U/S
  CHECK(w->no_execute);       // the PTE has XD

  auto big = debug::walk(g.mem, s, 0x40000000ull + 0x10);  // 1 GiB page, PDPTE without R/W
  REQUIRE(big.has_value());
  CHECK(big->page_size == (1ull << 30));
  CHECK(big->levels == 2u);
  CHECK(big->entry_gpa[1] == FourLevel::kPdpt + 8);
  CHECK_FALSE(big->writable);
  CHECK_FALSE(big->no_execute);

  CHECK_FALSE(debug::walk(g.mem, s, 0x407000).has_value());
}

TEST_CASE("walk with paging off and with 32-bit paging") {
  Guest g;
  CpuState off;
  off.cr0 = kCr0Pe;
  auto w = debug::walk(g.mem, off, 0x1'0000'5678ull);
  REQUIRE(w.has_value());
  CHECK(w->phys == 0x5678u);
  CHECK(w->levels == 0u);
  g.set32(0xb000, 2, 0xc000 | kP | kRW | kUS);
  g.set32(0xc000, 0x10, 0x345000 | kP | kUS);
  CpuState s;
  s.cr0 = kCr0Pe | kCr0Pg;
  s.cr3 = 0xb000;
  auto p = debug::walk(g.mem, s, 0x810abc);
  REQUIRE(p.has_value());
  CHECK(p->phys == 0x345abcu);
  CHECK(p->entry_size == 4u);
  CHECK(p->levels == 2u);
  CHECK(p->entry_gpa[0] == 0xb000u + 2 * 4);
  CHECK(p->entry_gpa[1] == 0xc000u + 0x10 * 4);
  CHECK_FALSE(p->writable);
  CHECK(p->user);
}

}  // TEST_SUITE

TEST_SUITE("register dump") {

TEST_CASE("format_registers and crash_report print CpuState in the fixed format") {
  Guest g;
  CpuState s = long_mode(0x1000);
  for (unsigned i = 0; i < 16; ++i) s.gpr[i] = 0x1000 + i;  // hardware order: rax rcx rdx rbx rsp rbp rsi rdi r8..r15
  s.rip = 0x5000;
  s.rflags = 0x246;
  s.cr2 = 0xdead0000;
  s.cs = {0, 0xffffffff, 0x08, 0xb, 1, 0, 0, 1, 1, 1, 0, 0, 0};
  s.ss = {0, 0xffffffff, 0x10, 0x3, 1, 0, 1, 1, 0, 1, 0, 0, 0};
  s.tr = {0x12000, 0x67, 0x38, 0xb, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  s.gdt.base = 0x11000;
  s.gdt.limit = 0x3f;
  s.idt.base = 0x10000;
  s.idt.limit = 0xfff;
  std::string out = debug::format_registers(s);
  CHECK(out.find("rax=0000000000001000 rbx=0000000000001003 rcx=0000000000001001 rdx=0000000000001002\n") == 0);
  CHECK(out.find("\nrsi=0000000000001006 rdi=0000000000001007 rbp=0000000000001005 rsp=0000000000001004\n") != std::string::npos);
  CHECK(out.find("\nr8 =0000000000001008 r9 =0000000000001009 r10=000000000000100a r11=000000000000100b\n") != std::string::npos);
  CHECK(out.find("\nrip=0000000000005000 rflags=00000246\n") != std::string::npos);
  CHECK(out.find("\ncr0=0000000080000001 cr2=00000000dead0000 cr3=0000000000001000 cr4=0000000000000020 efer=500\n") !=
        std::string::npos);
  CHECK(out.find("\ncs =0008 base=0000000000000000 limit=ffffffff type=b dpl=0 p=1 db=0 l=1 g=1\n") != std::string::npos);
  CHECK(out.find("\nss =0010 base=0000000000000000 limit=ffffffff type=3 dpl=0 p=1 db=1 l=0 g=1\n") != std::string::npos);
  CHECK(out.find("\ntr =0038 base=0000000000012000 limit=00000067 type=b dpl=0 p=1 db=0 l=0 g=0\n") != std::string::npos);
  CHECK(out.find("\ngdt base=0000000000011000 limit=003f  idt base=0000000000010000 limit=0fff\n") != std::string::npos);

  // The code around rip: identity-map 0x5000 and put two instructions there.
  FourLevel f;
  f.set64(FourLevel::kPt, 0x1ff, 0x5000 | kP);  // linear 0x5ff000 -> 0x5000
  const uint8_t code[] = {0x90, 0xc3};
  REQUIRE(f.mem.write(0x5000, code, sizeof code));
  s.rip = 0x5ff000;
  std::string report = debug::crash_report("triple fault", 1, s, f.mem);
  CHECK(report.find("VM stopped: triple fault on vCPU 1\nrax=") == 0);
  CHECK(report.find("\ncode (64-bit):\n=> 0x00000000005ff000: 90                   nop\n") != std::string::npos);
}

}  // TEST_SUITE
