#include "vmm/accel/kvm/kvm_state.h"

#include <sys/ioctl.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "vmm/core/clock.h"
#include "vmm/core/error.h"

namespace hsls::accel::kvm {
namespace {

// Runs a state ioctl; throws naming it on failure.
void ioctl_or_throw(int fd, unsigned long request, void* arg, const char* name) {
  if (::ioctl(fd, request, arg) < 0) throw Error(errno_text(name));
}

constexpr unsigned kMaxMsrs = 32;

// The MSRs CpuState carries, by index.
struct MsrField {
  uint32_t index;
  uint64_t CpuState::*field;
};
constexpr MsrField kMsrs[] = {
    {0x10, &CpuState::tsc},
    {0x174, &CpuState::sysenter_cs},
    {0x175, &CpuState::sysenter_esp},
    {0x176, &CpuState::sysenter_eip},
    {0x277, &CpuState::pat},
    {0xc0000081, &CpuState::star},
    {0xc0000082, &CpuState::lstar},
    {0xc0000083, &CpuState::cstar},
    {0xc0000084, &CpuState::sfmask},
    {0xc0000102, &CpuState::kernel_gs_base},
    {0xc0000103, &CpuState::tsc_aux},
};

struct MsrBuffer {
  kvm_msrs head;
  kvm_msr_entry entries[kMaxMsrs];
};

// The LAPIC timer's divisor from the divide configuration register.
uint32_t lapic_divisor(uint32_t tdcr) {
  uint32_t code = ((tdcr & 0x8) >> 1) | (tdcr & 0x3);
  return code == 7 ? 1 : 2u << code;
}

uint32_t reg32(const uint8_t* page, unsigned off) {
  uint32_t v;
  std::memcpy(&v, page + off, 4);
  return v;
}

}  // namespace

// The fields a KVM segment and a neutral one share, copied either way.
template <typename From, typename To>
void copy_segment(const From& f, To& t) {
  t.base = f.base;
  t.limit = f.limit;
  t.selector = f.selector;
  t.type = f.type;
  t.present = f.present;
  t.dpl = f.dpl;
  t.db = f.db;
  t.s = f.s;
  t.l = f.l;
  t.g = f.g;
  t.avl = f.avl;
  t.unusable = f.unusable;
}

Segment to_neutral(const kvm_segment& s) {
  Segment o;
  copy_segment(s, o);
  return o;
}

kvm_segment from_neutral(const Segment& s) {
  kvm_segment o{};
  copy_segment(s, o);
  return o;
}

namespace {

// kvm_regs' general registers, in CpuState's (the hardware's) order.
constexpr __u64 kvm_regs::*kGprs[16] = {&kvm_regs::rax, &kvm_regs::rcx, &kvm_regs::rdx, &kvm_regs::rbx,
                                           &kvm_regs::rsp, &kvm_regs::rbp, &kvm_regs::rsi, &kvm_regs::rdi,
                                           &kvm_regs::r8,  &kvm_regs::r9,  &kvm_regs::r10, &kvm_regs::r11,
                                           &kvm_regs::r12, &kvm_regs::r13, &kvm_regs::r14, &kvm_regs::r15};

// The segment registers, each side's member.
struct SegmentPair {
  Segment CpuState::*neutral;
  kvm_segment kvm_sregs::*kvm;
};
constexpr SegmentPair kSegments[] = {{&CpuState::cs, &kvm_sregs::cs}, {&CpuState::ds, &kvm_sregs::ds},
                                     {&CpuState::es, &kvm_sregs::es}, {&CpuState::fs, &kvm_sregs::fs},
                                     {&CpuState::gs, &kvm_sregs::gs}, {&CpuState::ss, &kvm_sregs::ss},
                                     {&CpuState::tr, &kvm_sregs::tr}, {&CpuState::ldt, &kvm_sregs::ldt}};

}  // namespace

void to_neutral(const kvm_regs& r, const kvm_sregs& s, CpuState& o) {
  for (unsigned i = 0; i < 16; ++i) o.gpr[i] = r.*kGprs[i];
  o.rip = r.rip;
  o.rflags = r.rflags;
  for (const auto& p : kSegments) o.*p.neutral = to_neutral(s.*p.kvm);
  o.tr.type = tss_busy(o.tr.type);  // KVM reports it busy already; the neutral form does not rely on that
  o.gdt.base = s.gdt.base; o.gdt.limit = s.gdt.limit;
  o.idt.base = s.idt.base; o.idt.limit = s.idt.limit;
  o.cr0 = s.cr0; o.cr2 = s.cr2; o.cr3 = s.cr3; o.cr4 = s.cr4; o.cr8 = s.cr8;
  o.efer = s.efer;
  o.apic_base = s.apic_base;
}

void from_neutral(const CpuState& o, kvm_regs& r, kvm_sregs& s, TrForm tr) {
  r = {};
  for (unsigned i = 0; i < 16; ++i) r.*kGprs[i] = o.gpr[i];
  r.rip = o.rip;
  r.rflags = o.rflags;
  s = {};
  for (const auto& p : kSegments) s.*p.kvm = from_neutral(o.*p.neutral);
  s.tr.type = tr == TrForm::busy ? tss_busy(o.tr.type) : tss_available(o.tr.type);
  s.gdt.base = o.gdt.base; s.gdt.limit = o.gdt.limit;
  s.idt.base = o.idt.base; s.idt.limit = o.idt.limit;
  s.cr0 = o.cr0; s.cr2 = o.cr2; s.cr3 = o.cr3; s.cr4 = o.cr4; s.cr8 = o.cr8;
  s.efer = o.efer;
  s.apic_base = o.apic_base;
}

std::vector<uint32_t> msrs_to_save(int kvm_fd) {
  std::vector<uint8_t> buf(sizeof(kvm_msr_list) + 1024 * sizeof(uint32_t));
  auto* list = reinterpret_cast<kvm_msr_list*>(buf.data());
  list->nmsrs = 1024;
  std::vector<uint32_t> out;
  if (::ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) throw Error(errno_text("KVM_GET_MSR_INDEX_LIST"));
  for (const auto& m : kMsrs)
    if (std::find(list->indices, list->indices + list->nmsrs, m.index) != list->indices + list->nmsrs) out.push_back(m.index);
  return out;
}

void save_cpu(int fd, unsigned index, const std::vector<uint32_t>& msrs, CpuState& o, const kvm_sync_regs* synced) {
  o = CpuState{};
  o.index = index;
  kvm_regs regs{};
  kvm_sregs sregs{};
  kvm_vcpu_events ev{};
  if (synced) {
    regs = synced->regs;
    sregs = synced->sregs;
    ev = synced->events;
  } else {
    ioctl_or_throw(fd, KVM_GET_REGS, &regs, "KVM_GET_REGS");
    ioctl_or_throw(fd, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
    ioctl_or_throw(fd, KVM_GET_VCPU_EVENTS, &ev, "KVM_GET_VCPU_EVENTS");
  }
  to_neutral(regs, sregs, o);
  o.interrupt_shadow = ev.interrupt.shadow ? 1 : 0;
  o.nmi_pending = ev.nmi.pending;
  o.nmi_masked = ev.nmi.masked;
  if (ev.interrupt.injected) {
    o.interrupt_pending = 1;
    o.interrupt_vector = ev.interrupt.nr;
    o.interrupt_soft = ev.interrupt.soft;
  }
  if (ev.exception.injected || ev.exception.pending) {
    o.exception_pending = 1;
    o.exception_vector = ev.exception.nr;
    o.exception_has_error = ev.exception.has_error_code;
    o.exception_error = ev.exception.error_code;
  }
  thread_local kvm_xsave xs;  // 4 KiB: not on the vCPU thread's stack
  ioctl_or_throw(fd, KVM_GET_XSAVE, &xs, "KVM_GET_XSAVE");
  std::memcpy(o.fxsave, xs.region, sizeof o.fxsave);
  kvm_xcrs xcrs{};
  ioctl_or_throw(fd, KVM_GET_XCRS, &xcrs, "KVM_GET_XCRS");
  for (uint32_t i = 0; i < xcrs.nr_xcrs; ++i)
    if (xcrs.xcrs[i].xcr == 0) o.xcr0 = xcrs.xcrs[i].value;
  kvm_mp_state mp{};
  ioctl_or_throw(fd, KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE");
  o.run_state = mp.mp_state == KVM_MP_STATE_HALTED                                                   ? RunState::halted
                : (mp.mp_state == KVM_MP_STATE_UNINITIALIZED || mp.mp_state == KVM_MP_STATE_INIT_RECEIVED) ? RunState::wait_for_sipi
                                                                                                     : RunState::running;
  kvm_debugregs dr{};
  ioctl_or_throw(fd, KVM_GET_DEBUGREGS, &dr, "KVM_GET_DEBUGREGS");
  for (int i = 0; i < 4; ++i) o.dr[i] = dr.db[i];
  o.dr[6] = dr.dr6;
  o.dr[7] = dr.dr7;
  MsrBuffer buf{};
  buf.head.nmsrs = uint32_t(std::min<size_t>(msrs.size(), kMaxMsrs));
  for (size_t i = 0; i < buf.head.nmsrs; ++i) buf.entries[i].index = msrs[i];
  int n = ::ioctl(fd, KVM_GET_MSRS, &buf);
  if (n < 0) throw Error(errno_text("KVM_GET_MSRS"));
  for (int i = 0; i < n; ++i)
    for (const auto& m : kMsrs)
      if (m.index == buf.entries[i].index) o.*m.field = buf.entries[i].data;
}

void load_cpu(int fd, const CpuState& o, const std::vector<uint32_t>& msrs, TrForm tr) {
  if (o.version != CpuState::kVersion) throw Error("vCPU state version " + std::to_string(o.version) + " is not supported");
  kvm_regs regs;
  kvm_sregs sregs;
  from_neutral(o, regs, sregs, tr);
  ioctl_or_throw(fd, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
  ioctl_or_throw(fd, KVM_SET_REGS, &regs, "KVM_SET_REGS");
  kvm_xcrs xcrs{};
  xcrs.nr_xcrs = 1;
  xcrs.xcrs[0].xcr = 0;
  xcrs.xcrs[0].value = o.xcr0 ? o.xcr0 : 1;
  ioctl_or_throw(fd, KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS");
  thread_local kvm_xsave xs;
  ioctl_or_throw(fd, KVM_GET_XSAVE, &xs, "KVM_GET_XSAVE");
  std::memcpy(xs.region, o.fxsave, sizeof o.fxsave);
  xs.region[128] |= 0x3;  // XSTATE_BV (byte 512): x87 and SSE come from the legacy area
  ioctl_or_throw(fd, KVM_SET_XSAVE, &xs, "KVM_SET_XSAVE");
  MsrBuffer buf{};
  for (const auto& m : kMsrs) {
    if (std::find(msrs.begin(), msrs.end(), m.index) == msrs.end()) continue;  // KVM does not offer it
    buf.entries[buf.head.nmsrs].index = m.index;
    buf.entries[buf.head.nmsrs].data = o.*m.field;
    ++buf.head.nmsrs;
  }
  int n = ::ioctl(fd, KVM_SET_MSRS, &buf);
  if (n < 0 || uint32_t(n) != buf.head.nmsrs)
    throw Error("KVM_SET_MSRS restored " + std::to_string(n) + " of " + std::to_string(buf.head.nmsrs) + " MSRs");
  kvm_vcpu_events ev{};
  ioctl_or_throw(fd, KVM_GET_VCPU_EVENTS, &ev, "KVM_GET_VCPU_EVENTS");
  ev.interrupt.shadow = o.interrupt_shadow ? KVM_X86_SHADOW_INT_STI : 0;
  ev.nmi.pending = o.nmi_pending;
  ev.nmi.masked = o.nmi_masked;
  ev.interrupt.injected = o.interrupt_pending;
  ev.interrupt.nr = o.interrupt_vector;
  ev.interrupt.soft = o.interrupt_soft;
  // Without KVM_CAP_EXCEPTION_PAYLOAD an exception to deliver is "injected".
  ev.exception.injected = o.exception_pending;
  ev.exception.pending = 0;
  ev.exception.nr = o.exception_vector;
  ev.exception.has_error_code = o.exception_has_error;
  ev.exception.error_code = o.exception_error;
  ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
  ioctl_or_throw(fd, KVM_SET_VCPU_EVENTS, &ev, "KVM_SET_VCPU_EVENTS");
  kvm_mp_state mp{};
  mp.mp_state = o.run_state == RunState::halted          ? KVM_MP_STATE_HALTED
                : o.run_state == RunState::wait_for_sipi ? KVM_MP_STATE_INIT_RECEIVED
                                                         : KVM_MP_STATE_RUNNABLE;
  ioctl_or_throw(fd, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE");
  kvm_debugregs dr{};
  for (int i = 0; i < 4; ++i) dr.db[i] = o.dr[i];
  dr.dr6 = o.dr[6] ? o.dr[6] : 0xffff0ff0;
  dr.dr7 = o.dr[7] ? o.dr[7] : 0x400;
  ioctl_or_throw(fd, KVM_SET_DEBUGREGS, &dr, "KVM_SET_DEBUGREGS");
}

void save_lapic(int fd, platform::LapicState& o) {
  kvm_lapic_state s{};
  ioctl_or_throw(fd, KVM_GET_LAPIC, &s, "KVM_GET_LAPIC");
  o = platform::LapicState{};
  std::memcpy(o.regs, s.regs, sizeof o.regs);
  // KVM reports the current count; the neutral state keeps the time left (1 ns per APIC bus tick).
  const auto* page = reinterpret_cast<const uint8_t*>(s.regs);
  o.timer_remaining_ns = uint64_t(reg32(page, 0x390)) * lapic_divisor(reg32(page, 0x3e0));
}

void load_lapic(int fd, const platform::LapicState& o) {
  if (o.version != platform::LapicState::kVersion) throw Error("LAPIC state version " + std::to_string(o.version) + " is not supported");
  kvm_lapic_state s{};
  std::memcpy(s.regs, o.regs, sizeof s.regs);
  ioctl_or_throw(fd, KVM_SET_LAPIC, &s, "KVM_SET_LAPIC");
}

void save_platform(int vm_fd, platform::PlatformState& o) {
  o = platform::PlatformState{};
  kvm_irqchip chip{};
  chip.chip_id = KVM_IRQCHIP_IOAPIC;
  ioctl_or_throw(vm_fd, KVM_GET_IRQCHIP, &chip, "KVM_GET_IRQCHIP(IOAPIC)");
  o.ioapic.id = chip.chip.ioapic.id;
  o.ioapic.ioregsel = chip.chip.ioapic.ioregsel;
  o.ioapic.irr = chip.chip.ioapic.irr;
  for (unsigned i = 0; i < platform::IoapicState::kPins; ++i) o.ioapic.redir[i] = chip.chip.ioapic.redirtbl[i].bits;
  for (unsigned c = 0; c < 2; ++c) {
    kvm_irqchip pic{};
    pic.chip_id = c == 0 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
    ioctl_or_throw(vm_fd, KVM_GET_IRQCHIP, &pic, "KVM_GET_IRQCHIP(PIC)");
    auto& k = pic.chip.pic;
    auto& n = c == 0 ? o.pic.master : o.pic.slave;
    n.irr = k.irr; n.imr = k.imr; n.isr = k.isr; n.vector_base = k.irq_base;
    n.init_step = k.init_state; n.icw4_needed = k.init4; n.read_isr = k.read_reg_select;
    n.auto_eoi = k.auto_eoi; n.last_level = k.last_irr; n.special_mask = k.special_mask;
  }
  kvm_pit_state2 pit{};
  ioctl_or_throw(vm_fd, KVM_GET_PIT2, &pit, "KVM_GET_PIT2");
  const auto& ch = pit.channels[0];
  o.pit.mode = ch.mode;
  o.pit.access = ch.rw_mode ? ch.rw_mode : 3;
  o.pit.bcd = ch.bcd;
  o.pit.write_hi_next = ch.write_state == 4 ? 1 : 0;  // RW_STATE_WORD1: the high byte comes next
  o.pit.read_hi_next = ch.read_state == 4 ? 1 : 0;
  o.pit.latched = ch.count_latched ? 1 : 0;
  o.pit.gate = ch.gate;
  o.pit.reload = uint16_t(ch.count);
  o.pit.latch = ch.latched_count;
  int64_t now = int64_t(monotonic_ns());
  o.pit.elapsed_ns = now > ch.count_load_time ? uint64_t(now - ch.count_load_time) : 0;
}

void load_platform(int vm_fd, const platform::PlatformState& o) {
  if (o.version != platform::PlatformState::kVersion) throw Error("platform state version " + std::to_string(o.version) + " is not supported");
  kvm_irqchip chip{};
  chip.chip_id = KVM_IRQCHIP_IOAPIC;
  ioctl_or_throw(vm_fd, KVM_GET_IRQCHIP, &chip, "KVM_GET_IRQCHIP(IOAPIC)");
  chip.chip.ioapic.id = o.ioapic.id;
  chip.chip.ioapic.ioregsel = o.ioapic.ioregsel;
  chip.chip.ioapic.irr = o.ioapic.irr;
  for (unsigned i = 0; i < platform::IoapicState::kPins; ++i) chip.chip.ioapic.redirtbl[i].bits = o.ioapic.redir[i];
  ioctl_or_throw(vm_fd, KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP(IOAPIC)");
  for (unsigned c = 0; c < 2; ++c) {
    kvm_irqchip pic{};
    pic.chip_id = c == 0 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
    ioctl_or_throw(vm_fd, KVM_GET_IRQCHIP, &pic, "KVM_GET_IRQCHIP(PIC)");
    auto& k = pic.chip.pic;
    const auto& n = c == 0 ? o.pic.master : o.pic.slave;
    k.irr = n.irr; k.imr = n.imr; k.isr = n.isr; k.irq_base = n.vector_base;
    k.init_state = n.init_step; k.init4 = n.icw4_needed; k.read_reg_select = n.read_isr;
    k.auto_eoi = n.auto_eoi; k.last_irr = n.last_level; k.special_mask = n.special_mask;
    ioctl_or_throw(vm_fd, KVM_SET_IRQCHIP, &pic, "KVM_SET_IRQCHIP(PIC)");
  }
  kvm_pit_state2 pit{};
  ioctl_or_throw(vm_fd, KVM_GET_PIT2, &pit, "KVM_GET_PIT2");
  auto& ch = pit.channels[0];
  ch.mode = o.pit.mode;
  ch.rw_mode = o.pit.access;
  ch.bcd = o.pit.bcd;
  ch.write_state = o.pit.access == 3 ? (o.pit.write_hi_next ? 4 : 3) : o.pit.access;
  ch.read_state = o.pit.access == 3 ? (o.pit.read_hi_next ? 4 : 3) : o.pit.access;
  ch.count_latched = o.pit.latched ? o.pit.access : 0;
  ch.latched_count = o.pit.latch;
  ch.gate = o.pit.gate;
  ch.count = o.pit.reload ? o.pit.reload : 0x10000;
  ch.count_load_time = int64_t(monotonic_ns()) - int64_t(o.pit.elapsed_ns);
  ioctl_or_throw(vm_fd, KVM_SET_PIT2, &pit, "KVM_SET_PIT2");
}

}  // namespace hsls::accel::kvm
