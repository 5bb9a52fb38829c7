// The software CPU's access to Unicorn's CPU bytes (vmm/accel/tcg/uc_cpu.h):
// a saved copy (UcCpu) and the engine's own bytes (uc_live_cpu) agree, and
// a change made through either reaches the engine.
#include <doctest/doctest.h>
#include <unicorn/unicorn.h>

#include <cstring>
#include <string>
#include <utility>

#include "vmm/accel/tcg/uc_cpu.h"
#include "vmm/accel/tcg/uc_probe.h"

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

namespace {

// Asks for a stop from inside a store, as another thread's stop would
// arrive while a block runs.
void stop_at_store(uc_engine* uc, uc_mem_type, uint64_t, int, int64_t, void*) { uc_emu_stop(uc); }

// Runs `mov [0x3000], rax; inc rbx; jmp $` at 0x1000 with a stop asked for
// at the store; returns RBX and RIP after the run.
std::pair<uint64_t, uint64_t> store_inc_loop(bool async) {
  Engine e;
  if (async) REQUIRE(uc_enable_async_stop(e.uc));  // before anything is translated
  REQUIRE(uc_mem_map(e.uc, 0, 0x10000, UC_PROT_ALL) == UC_ERR_OK);
  const uint8_t code[] = {0x48, 0x89, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00, 0x48, 0xff, 0xc3, 0xeb, 0xfe};
  REQUIRE(uc_mem_write(e.uc, 0x1000, code, sizeof code) == UC_ERR_OK);
  uc_hook h;
  REQUIRE(uc_hook_add(e.uc, &h, UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(stop_at_store), nullptr, 1, 0) == UC_ERR_OK);
  e.write(UC_X86_REG_RBX, 0);
  REQUIRE(uc_emu_start(e.uc, 0x1000, 0xfff0, 0, 0) == UC_ERR_OK);
  return {e.read(UC_X86_REG_RBX), e.read(UC_X86_REG_RIP)};
}

}  // namespace

TEST_CASE("uc_enable_async_stop: a stop asked for inside a block lands at the next block's start") {
  auto [rbx, rip] = store_inc_loop(true);
  CHECK(rbx == 1);           // the block ran to its end, once
  CHECK(rip == 0x1000 + 11);  // and the run ended at the next block (jmp $), not back at the block's start
}

TEST_CASE("Unicorn without uc_enable_async_stop: the same stop resumes at the block's start, part of it done") {
  // Why stops from other threads need it: the store ran, RIP says it did not.
  auto [rbx, rip] = store_inc_loop(false);
  CHECK(rip == 0x1000);
  CHECK(rbx == 0);
}

TEST_CASE("uc_halted: a hlt, not a stop") {
  Engine e;
  REQUIRE(uc_enable_async_stop(e.uc));
  REQUIRE(uc_mem_map(e.uc, 0, 0x10000, UC_PROT_ALL) == UC_ERR_OK);
  const uint8_t hlt[] = {0x48, 0xff, 0xc3, 0xf4};  // inc rbx; hlt
  REQUIRE(uc_mem_write(e.uc, 0x2000, hlt, sizeof hlt) == UC_ERR_OK);
  REQUIRE(uc_emu_start(e.uc, 0x2000, 0xfff0, 0, 0) == UC_ERR_OK);
  CHECK(uc_halted(uc_live_cpu(e.uc)));
  CHECK(e.read(UC_X86_REG_RIP) == 0x2004);
}

TEST_CASE("the probes' answers compiled into vmm are what probing the linked Unicorn finds now") {
  const UcProbed now = run_uc_probes();
  CHECK(now.layout_failure == "");
  CHECK(now.refused_failure == "");
  CHECK(now.live_failure == "");
  CHECK(now.async_failure == "");
  const UcLayout& built = uc_layout();
  CHECK(now.layout.size == built.size);
  CHECK(now.layout.error_code == built.error_code);
  CHECK(now.layout.exception_is_int == built.exception_is_int);
  CHECK(now.layout.old_exception == built.old_exception);
  CHECK(std::memcmp(&now.layout, &built, sizeof built) == 0);
  // The refused address: a generated header that is not this library's would read another field.
  CHECK(uc_probed_header(now).find("kRefusedOffset = " + std::to_string(now.refused_offset) + ";") != std::string::npos);
}
