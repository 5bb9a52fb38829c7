// The software CPU's access to Unicorn's CPU bytes (vmm/accel/tcg/uc_cpu.h):
// a saved copy (UcCpu) and the engine's own bytes (uc_live_cpu) agree, and
// a change made through either reaches the engine.
#include <doctest/doctest.h>
#include <unicorn/unicorn.h>

#include <cstring>

#include "vmm/accel/tcg/uc_cpu.h"

using namespace hsls::accel::tcg;

namespace {

struct Engine {
  uc_engine* uc = nullptr;
  Engine() { REQUIRE(uc_open(UC_ARCH_X86, UC_MODE_64, &uc) == UC_ERR_OK); }
  ~Engine() { uc_close(uc); }
  uint64_t read(int reg) {
    uint64_t v = 0;
    uc_reg_read(uc, reg, &v);
    return v;
  }
  void write(int reg, uint64_t v) { uc_reg_write(uc, reg, &v); }
};

}  // namespace

TEST_CASE("uc_live_cpu: the engine's own bytes, the same as a saved copy, changed in place") {
  const UcLayout& L = uc_layout();
  Engine e;  // fresh: Unicorn builds its CPU only at first use, which uc_live_cpu must see to
  uint8_t* live = uc_live_cpu(e.uc);
  REQUIRE(live != nullptr);  // Unicorn 2.1.1, the pinned library: its CPU is where the probe found it
  e.write(UC_X86_REG_RAX, 0x1122334455667788ull);
  e.write(UC_X86_REG_R15, 0x0f0f0f0f0f0f0f0full);
  UcCpu saved(e.uc);
  saved.save();
  CHECK(std::memcmp(saved.bytes(), live, L.size) == 0);
  CpuBytes view(live);
  CHECK(view.get<uint64_t>(L.regs) == 0x1122334455667788ull);
  CHECK(view.get<uint64_t>(L.regs + 8 * 15) == 0x0f0f0f0f0f0f0f0full);
  // A change in place is what the register API reads next.
  view.set<uint64_t>(L.regs + 8 * 3, 0xabcdefull);  // RBX, hardware order
  view.set<uint64_t>(L.eip, 0x401000);
  CHECK(e.read(UC_X86_REG_RBX) == 0xabcdefull);
  CHECK(e.read(UC_X86_REG_RIP) == 0x401000);
  // And a saved copy put back overwrites it.
  saved.restore();
  CHECK(e.read(UC_X86_REG_RBX) != 0xabcdefull);
  CHECK(view.get<uint64_t>(L.regs) == 0x1122334455667788ull);
}

TEST_CASE("uc_live_cpu: each engine has its own") {
  Engine a, b;
  uint8_t* la = uc_live_cpu(a.uc);
  uint8_t* lb = uc_live_cpu(b.uc);
  REQUIRE(la != nullptr);
  REQUIRE(lb != nullptr);
  CHECK(la != lb);
  a.write(UC_X86_REG_RCX, 7);
  b.write(UC_X86_REG_RCX, 9);
  const UcLayout& L = uc_layout();
  CHECK(CpuBytes(la).get<uint64_t>(L.regs + 8) == 7);
  CHECK(CpuBytes(lb).get<uint64_t>(L.regs + 8) == 9);
}

TEST_CASE("CpuBytes: a segment round-trips through QEMU's layout and sets the mode flags") {
  Engine e;
  UcCpu c(e.uc);
  c.save();
  const UcLayout& L = uc_layout();
  hsls::accel::Segment cs;
  cs.selector = 0x2b;
  cs.limit = 0xffffffff;
  cs.type = 0xb;
  cs.s = 1;
  cs.dpl = 3;
  cs.present = 1;
  cs.l = 1;
  cs.g = 1;
  hsls::accel::Segment ss = cs;
  ss.selector = 0x23;
  ss.type = 3;
  ss.l = 0;
  ss.db = 1;
  c.set_segment_at(L.segs + 24 * uc_cs, cs);
  c.set_segment_at(L.segs + 24 * uc_ss, ss);
  auto back = c.segment_at(L.segs + 24 * uc_cs);
  CHECK(back.selector == 0x2b);
  CHECK(back.dpl == 3);
  CHECK(back.l == 1);
  CHECK(back.type == 0xb);
  c.update_mode_flags(0x80000011, 0x500, 0x2);  // PG|ET|PE, EFER LME|LMA
  uint32_t h = c.get<uint32_t>(L.hflags);
  CHECK((h & hf::cpl) == 3);
  CHECK((h & hf::cs64) != 0);
  CHECK((h & hf::lma) != 0);
}
