// The accelerators' state conversions: KVM's structs <-> CpuState (pure),
// and the software CPU's engine <-> CpuState (a real engine: ring 0 and
// ring 3 states, hidden segment parts, CR2 and the interrupt shadow, which
// Unicorn's register API cannot set, survive the round trip).
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "vmm/accel/kvm/kvm_state.h"
#include "vmm/accel/tcg/tcg_vm.h"
#include "vmm/core/guest_memory.h"

using namespace hsls;
using namespace hsls::accel;

namespace {

Segment seg(uint16_t sel, uint8_t type, uint8_t dpl, bool code64, uint64_t base = 0) {
  Segment s;
  s.selector = sel;
  s.base = base;
  s.limit = 0xffffffff;
  s.type = type;
  s.present = 1;
  s.dpl = dpl;
  s.s = 1;
  s.l = code64 ? 1 : 0;
  s.db = code64 ? 0 : 1;
  s.g = 1;
  return s;
}

// A long-mode state at `cpl` with recognisable values everywhere.
CpuState sample(unsigned cpl) {
  CpuState s;
  for (unsigned i = 0; i < 16; ++i) s.gpr[i] = 0x1111111100000000ull * (i + 1) + i;
  s.rip = cpl ? 0x400123 : 0xffffffff80100456ull;
  s.rflags = 0x246 | (cpl ? 0x200 : 0);
  s.cs = seg(uint16_t(cpl ? 0x33 : 0x08), 0xb, uint8_t(cpl), true);
  s.ss = seg(uint16_t(cpl ? 0x2b : 0x10), 0x3, uint8_t(cpl), false);
  s.ds = s.es = s.ss;
  s.fs = seg(0, 0x3, 0, false, 0x7000);
  s.gs = seg(0, 0x3, 0, false, 0xffffffff80157000ull);
  s.tr = seg(0x30, 0xb, 0, false, 0xffffffff80157088ull);
  s.tr.s = 0;
  s.tr.limit = 0xe8;
  s.tr.g = 0;
  s.tr.db = 0;
  s.ldt.unusable = 1;
  s.gdt = {0xffffffff80157180ull, 0x3f, {}};
  s.idt = {0xffffffff80134000ull, 0xfff, {}};
  s.cr0 = 0x80010033;
  s.cr2 = 0xdead1000;
  s.cr3 = 0x101000;
  s.cr4 = 0x620;
  s.efer = 0x500;
  s.star = 0x0023001000000000ull;
  s.lstar = 0xffffffff80100000ull;
  s.kernel_gs_base = 0x1234000;
  s.sfmask = 0x700;
  s.interrupt_shadow = cpl ? 0 : 1;
  return s;
}

void check_same(const CpuState& a, const CpuState& b) {
  for (unsigned i = 0; i < 16; ++i) CHECK(a.gpr[i] == b.gpr[i]);
  CHECK(a.rip == b.rip);
  CHECK(a.rflags == b.rflags);
  for (auto m : {&CpuState::cs, &CpuState::ss, &CpuState::ds, &CpuState::es, &CpuState::fs, &CpuState::gs, &CpuState::tr}) {
    const Segment &x = a.*m, &y = b.*m;
    CHECK(x.selector == y.selector);
    CHECK(x.base == y.base);
    CHECK(x.limit == y.limit);
    CHECK(x.type == y.type);
    CHECK(x.dpl == y.dpl);
    CHECK(x.present == y.present);
    CHECK(x.l == y.l);
    CHECK(x.db == y.db);
    CHECK(x.s == y.s);
  }
  CHECK(a.gdt.base == b.gdt.base);
  CHECK(a.gdt.limit == b.gdt.limit);
  CHECK(a.idt.base == b.idt.base);
  CHECK(a.idt.limit == b.idt.limit);
  CHECK(a.cr0 == b.cr0);
  CHECK(a.cr3 == b.cr3);
  CHECK(a.cr4 == b.cr4);
  CHECK(a.efer == b.efer);
}

struct NoIo : IoHandler {
  bool pio(uint16_t, uint8_t*, unsigned, bool) override { return false; }
  bool mmio(uint64_t, uint8_t*, unsigned, bool) override { return false; }
};

// A software-CPU VM over 16 MiB of plain memory, with its platform.
struct TcgRig {
  static constexpr uint64_t kRam = 16ull << 20;
  std::unique_ptr<uint8_t, decltype(&std::free)> ram{static_cast<uint8_t*>(std::aligned_alloc(4096, kRam)), &std::free};
  GuestMemory mem{ram.get(), kRam};
  tcg::TcgVm vm;
  NoIo io;
  explicit TcgRig(unsigned vcpus) : vm(vcpus) {
    vm.map_ram(mem, DirtyLogRequest{});
    vm.create_platform();
  }
};

}  // namespace

TEST_CASE("kvm state: regs and sregs round-trip through CpuState") {
  CpuState s = sample(3);
  kvm_regs r;
  kvm_sregs sr;
  kvm::from_neutral(s, r, sr);
  CHECK(r.rbx == s.gpr[rbx]);  // KVM's order differs from the hardware order CpuState uses
  CHECK(r.rsp == s.gpr[rsp]);
  CHECK(sr.cs.dpl == 3);
  CHECK(sr.cr2 == 0xdead1000);
  CpuState back;
  kvm::to_neutral(r, sr, back);
  check_same(s, back);
  CHECK(back.cr2 == s.cr2);
}

TEST_CASE("kvm state: TR's type goes to KVM busy, or available where KVM runs on SVM") {
  CpuState s = sample(0);
  kvm_regs r;
  kvm_sregs sr;
  for (uint8_t neutral : {uint8_t(9), uint8_t(11)}) {  // an older tcg checkpoint kept 9
    CAPTURE(int(neutral));
    s.tr.type = neutral;
    kvm::from_neutral(s, r, sr, kvm::TrForm::busy);
    CHECK(sr.tr.type == 11);
    kvm::from_neutral(s, r, sr, kvm::TrForm::available);
    CHECK(sr.tr.type == 9);
  }
  s.tr.type = 3;  // a 16-bit TSS stays 16-bit
  kvm::from_neutral(s, r, sr, kvm::TrForm::available);
  CHECK(sr.tr.type == 1);
  CHECK(sr.cs.type == 0xb);  // only TR is touched
}

TEST_CASE("tcg state: TR is reported busy though the engine caches it available, as its `ltr` leaves it") {
  TcgRig rig(1);
  auto v = rig.vm.create_vcpu(0, rig.io);
  CpuState s = sample(0);
  s.tr.type = 9;
  v->set_state(s);
  CHECK(v->get_state().tr.type == 11);
  s.tr.type = 11;
  v->set_state(s);
  CHECK(v->get_state().tr.type == 11);
}

TEST_CASE("tcg state: ring 0 and ring 3 states round-trip through the engine") {
  TcgRig rig(2);
  auto v0 = rig.vm.create_vcpu(0, rig.io);
  auto v1 = rig.vm.create_vcpu(1, rig.io);
  for (unsigned cpl : {0u, 3u}) {
    CAPTURE(cpl);
    CpuState want = sample(cpl);
    v0->set_state(want);
    v1->set_state(sample(0));  // the engine holds the other vCPU in between
    CpuState got = v0->get_state();
    check_same(want, got);
    CHECK(got.cr2 == want.cr2);
    CHECK(got.interrupt_shadow == want.interrupt_shadow);
    CHECK(got.kernel_gs_base == want.kernel_gs_base);
    CHECK(got.lstar == want.lstar);
    CHECK(got.star == want.star);
  }
}

TEST_CASE("tcg state: a 32-bit protected-mode (PVH entry) state keeps its mode") {
  TcgRig rig(1);
  auto v = rig.vm.create_vcpu(0, rig.io);
  CpuState s = v->get_state();
  s.cs = seg(0x10, 0xb, 0, false);
  s.ds = s.es = s.fs = s.gs = s.ss = seg(0x18, 0x3, 0, false);
  s.cr0 = 0x11;
  s.cr4 = 0;
  s.efer = 0;
  s.rip = 0x100000;
  s.gpr[rbx] = 0x5000;
  v->set_state(s);
  CpuState got = v->get_state();
  CHECK(got.cs.db == 1);
  CHECK(got.cs.l == 0);
  CHECK(got.efer == 0);
  CHECK(got.cr0 == 0x11);
  CHECK(got.rip == 0x100000);
  CHECK(got.gpr[rbx] == 0x5000);
}
