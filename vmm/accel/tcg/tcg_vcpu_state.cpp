// A software-CPU vCPU's state in and out of the engine: the neutral
// CpuState (the checkpoint's, the monitor's, the other accelerator's) from
// the register API and the CPU bytes Unicorn cannot set through it.
#include "vmm/accel/tcg/tcg_vcpu.h"

#include <x86intrin.h>

#include <cstring>

#include "vmm/accel/tcg/tcg_vm.h"
#include "vmm/core/error.h"

namespace hsls::accel::tcg {
namespace {

// An x87 register as the register API reads and writes it (10 bytes used).
struct Float80 {
  uint64_t mantissa;
  uint16_t exponent;
  uint8_t pad[6];
};

// The MSRs CpuState carries (besides EFER and the TSC, which the engine takes from the host).
struct MsrField {
  uint32_t index;
  uint64_t CpuState::*field;
};
constexpr MsrField kMsrs[] = {
    {0x174, &CpuState::sysenter_cs},  {0x175, &CpuState::sysenter_esp}, {0x176, &CpuState::sysenter_eip},
    {0x277, &CpuState::pat},          {0xc0000081, &CpuState::star},    {0xc0000082, &CpuState::lstar},
    {0xc0000083, &CpuState::cstar},   {0xc0000084, &CpuState::sfmask},  {0xc0000102, &CpuState::kernel_gs_base},
};

constexpr int kGprRegs[16] = {UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
                              UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
                              UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
                              UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15};

}  // namespace

// The guest's time stamp counter now: the engine's rdtsc is the host's; a
// deterministic guest uses the clock device.
uint64_t TcgVcpu::clock_now() const { return vm_.det() ? vm_.now_ns() : __rdtsc(); }

// Engine -> CpuState, all of it (token held, this vCPU loaded).
CpuState TcgVcpu::read_engine() {
  uc_engine* uc = vm_.engine();
  CpuState s = read_control(live());
  for (int i = 0; i < 8; ++i) s.dr[i] = reg_read(uc, UC_X86_REG_DR0 + i);
  for (const auto& m : kMsrs) s.*m.field = msr_read(uc, m.index);
  s.tsc_aux = 0;
  s.tsc = clock_now();
  s.apic_base = 0xfee00000 | 0x800 | (index_ == 0 ? 0x100 : 0);
  s.xcr0 = 3;
  // FPU/SSE in the FXSAVE layout.
  uint16_t fcw = uint16_t(reg_read(uc, UC_X86_REG_FPCW)), fsw = uint16_t(reg_read(uc, UC_X86_REG_FPSW));
  uint16_t tag = uint16_t(reg_read(uc, UC_X86_REG_FPTAG));
  uint8_t abridged = 0;
  for (int i = 0; i < 8; ++i)
    if (((tag >> (2 * i)) & 3) != 3) abridged |= uint8_t(1u << i);
  std::memcpy(s.fxsave + 0, &fcw, 2);
  std::memcpy(s.fxsave + 2, &fsw, 2);
  s.fxsave[4] = abridged;
  uint32_t mxcsr = uint32_t(reg_read(uc, UC_X86_REG_MXCSR));
  uint32_t mxcsr_mask = 0xffff;
  std::memcpy(s.fxsave + 24, &mxcsr, 4);
  std::memcpy(s.fxsave + 28, &mxcsr_mask, 4);
  unsigned top = (fsw >> 11) & 7;
  for (unsigned i = 0; i < 8; ++i) {
    Float80 f{};
    uc_reg_read(uc, UC_X86_REG_FP0 + int((top + i) & 7), &f);
    std::memcpy(s.fxsave + 32 + 16 * i, &f.mantissa, 8);
    std::memcpy(s.fxsave + 40 + 16 * i, &f.exponent, 2);
  }
  for (unsigned i = 0; i < 16; ++i) {
    uint8_t x[16] = {};
    uc_reg_read(uc, UC_X86_REG_XMM0 + int(i), x);
    std::memcpy(s.fxsave + 160 + 16 * i, x, 16);
  }
  s.run_state = run_state_;
  return s;
}

// CpuState -> engine (token held, this vCPU loaded).
void TcgVcpu::write_engine(const CpuState& s) {
  uc_engine* uc = vm_.engine();
  const auto& L = uc_layout();
  msr_write(uc, 0xc0000080, s.efer);
  reg_write(uc, UC_X86_REG_CR4, s.cr4);
  reg_write(uc, UC_X86_REG_CR3, s.cr3);
  reg_write(uc, UC_X86_REG_CR0, s.cr0);
  for (const auto& m : kMsrs) msr_write(uc, m.index, s.*m.field);
  for (int i = 0; i < 8; ++i)
    if (i != 4 && i != 5) reg_write(uc, UC_X86_REG_DR0 + i, s.dr[i]);
  uint16_t fcw, fsw;
  std::memcpy(&fcw, s.fxsave + 0, 2);
  std::memcpy(&fsw, s.fxsave + 2, 2);
  if (fcw == 0) fcw = 0x37f;  // an all-zero area: the FPU's reset state
  uint16_t tag = 0;
  for (int i = 0; i < 8; ++i)
    if (!(s.fxsave[4] & (1u << i))) tag |= uint16_t(3u << (2 * i));
  uc_reg_write(uc, UC_X86_REG_FPCW, &fcw);
  uc_reg_write(uc, UC_X86_REG_FPSW, &fsw);
  uc_reg_write(uc, UC_X86_REG_FPTAG, &tag);
  uint32_t mxcsr;
  std::memcpy(&mxcsr, s.fxsave + 24, 4);
  if (mxcsr == 0) mxcsr = 0x1f80;
  uc_reg_write(uc, UC_X86_REG_MXCSR, &mxcsr);
  unsigned top = (fsw >> 11) & 7;
  for (unsigned i = 0; i < 8; ++i) {
    Float80 f{};
    std::memcpy(&f.mantissa, s.fxsave + 32 + 16 * i, 8);
    std::memcpy(&f.exponent, s.fxsave + 40 + 16 * i, 2);
    uc_reg_write(uc, UC_X86_REG_FP0 + int((top + i) & 7), &f);
  }
  for (unsigned i = 0; i < 16; ++i) uc_reg_write(uc, UC_X86_REG_XMM0 + int(i), s.fxsave + 160 + 16 * i);
  // What the register API cannot set goes into the CPU bytes.
  CpuBytes c = live();
  for (unsigned i = 0; i < 16; ++i) c.set<uint64_t>(L.regs + 8 * i, s.gpr[i]);
  c.set<uint64_t>(L.eip, s.rip);
  c.set_segment_at(L.segs + 24 * uc_es, s.es);
  c.set_segment_at(L.segs + 24 * uc_cs, s.cs);
  c.set_segment_at(L.segs + 24 * uc_ss, s.ss);
  c.set_segment_at(L.segs + 24 * uc_ds, s.ds);
  c.set_segment_at(L.segs + 24 * uc_fs, s.fs);
  c.set_segment_at(L.segs + 24 * uc_gs, s.gs);
  c.set_segment_at(L.ldt, s.ldt);
  c.set_segment_at(L.tr, s.tr);
  c.set<uint64_t>(L.gdt + 8, s.gdt.base);
  c.set<uint32_t>(L.gdt + 16, s.gdt.limit);
  c.set<uint64_t>(L.idt + 8, s.idt.base);
  c.set<uint32_t>(L.idt + 16, s.idt.limit);
  c.set<uint64_t>(L.cr, s.cr0);
  c.set<uint64_t>(L.cr + 16, s.cr2);
  c.set<uint64_t>(L.cr + 24, s.cr3);
  c.set<uint64_t>(L.cr + 32, s.cr4);
  c.set<uint64_t>(L.efer, s.efer);
  uint32_t h = c.get<uint32_t>(L.hflags) & ~hf::inhibit_irq;
  if (s.interrupt_shadow) h |= hf::inhibit_irq;
  c.set<uint32_t>(L.hflags, h);
  c.update_mode_flags(s.cr0, s.efer, s.rflags);
  c.set<int32_t>(L.old_exception, -1);
  live_done();
  reg_write(uc, UC_X86_REG_RFLAGS, s.rflags);
  uc_ctl_flush_tlb(uc);  // new control registers: no translation of before holds
  vm_.loaded = this;
  vm_.tlb_owner = this;
}

CpuState TcgVcpu::get_state() {
  bool mine = vm_.current() == this;  // called from inside this vCPU's turn
  // Held by a checkpoint, it cannot run until released; if it has not run
  // since the last checkpoint read it, that state still holds (~3 us of
  // engine loading and reading saved). Only the pause's leader reads held
  // vCPUs, so only it fills and reads the copy.
  bool held = !mine && activity_.load(std::memory_order_acquire) == kHeld;
  if (held && state_off_engine_) {
    CpuState s = *state_off_engine_;
    s.tsc = clock_now();
    s.run_state = run_state_;
    return s;
  }
  if (!mine) take_engine();
  CpuState s = read_engine();
  if (held) state_off_engine_ = s;
  if (!mine) {
    // Read only: no 5.5 KiB save. Held, it is read by a pause's leader; the
    // vCPUs that wait for the engine are held too, so waking them would only
    // switch threads on the CPU the vCPUs share: the pause's end wakes them.
    if (held) {
      vm_.set_current(nullptr);
      vm_.token().release_quietly();
    } else {
      return_engine(false);
    }
  }
  return s;
}

void TcgVcpu::set_state(const CpuState& s) {
  if (s.version != CpuState::kVersion) throw Error("vCPU state version " + std::to_string(s.version) + " is not supported");
  bool mine = vm_.current() == this;
  if (!mine) take_engine();
  state_off_engine_.reset();
  write_engine(s);
  run_state_ = s.run_state;
  carried_vector_ = s.interrupt_pending ? int(s.interrupt_vector) : -1;
  if (!mine) return_engine(true);
}

platform::LapicState TcgVcpu::get_lapic() {
  std::lock_guard lock(vm_.platform_mutex());
  return lapic_->save();
}

void TcgVcpu::set_lapic(const platform::LapicState& s) {
  std::lock_guard lock(vm_.platform_mutex());
  lapic_->restore(s);
  vm_.timer_changed(lapic_->timer_deadline());
}

}  // namespace hsls::accel::tcg
