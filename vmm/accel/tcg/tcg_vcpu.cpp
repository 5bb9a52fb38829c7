#include "vmm/accel/tcg/tcg_vcpu.h"

#include <x86intrin.h>

#include <optional>
#include <utility>

#include <fmt/format.h>

#include "vmm/accel/kick.h"
#include "vmm/accel/tcg/cpuid.h"
#include "vmm/accel/tcg/delivery.h"
#include "vmm/accel/tcg/store_dirty_log.h"
#include "vmm/accel/tcg/tcg_vm.h"
#include "vmm/core/error.h"
#include "vmm/core/log.h"
#include "vmm/debug/inspect.h"

namespace hsls::accel::tcg {
namespace {

// An x87 register as the register API reads and writes it (10 bytes used).
struct Float80 {
  uint64_t mantissa;
  uint16_t exponent;
  uint8_t pad[6];
};

constexpr uint64_t kNowhere = 0xfffffffffffff000ull;  // non-canonical: emulation never "reaches" it
constexpr uint64_t kLapicBase = 0xfee00000, kIoapicBase = 0xfec00000;
constexpr uint64_t kIf = 1u << 9;

Exit failed(std::string reason) {
  Exit e;
  e.kind = Exit::Kind::failed;
  e.reason = std::move(reason);
  return e;
}

uint64_t reg_read(uc_engine* uc, int reg) {
  uint64_t v = 0;
  uc_reg_read(uc, reg, &v);
  return v;
}

void reg_write(uc_engine* uc, int reg, uint64_t v) { uc_reg_write(uc, reg, &v); }

uint64_t msr_read(uc_engine* uc, uint32_t index) {
  uc_x86_msr m{index, 0};
  uc_reg_read(uc, UC_X86_REG_MSR, &m);
  return m.value;
}

void msr_write(uc_engine* uc, uint32_t index, uint64_t value) {
  uc_x86_msr m{index, value};
  uc_reg_write(uc, UC_X86_REG_MSR, &m);
}

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

TcgVcpu::TcgVcpu(TcgVm& vm, unsigned index, IoHandler& io)
    : vm_(vm), index_(index), io_(io), cpu_(vm.engine()),
      run_state_(index == 0 ? RunState::running : RunState::wait_for_sipi) {
  lapic_ = std::make_unique<platform::Lapic>(index, vm, [&vm] { return vm.now_ns(); });
  // Start from the engine's reset state (its bytes), as every vCPU of a fresh machine does.
  cpu_.save();
}

TcgVcpu::~TcgVcpu() { vm_.forget_vcpu(this); }

void TcgVcpu::thread_started() {
  set_thread_vcpu(this);
  vm_.token().set_runnable(index_, true);  // until it first sleeps in idle_wait
}

void TcgVcpu::thread_ended() { vm_.token().set_runnable(index_, false); }

void TcgVcpu::kick() {
  kicked_.store(true, std::memory_order_release);
  wake_sleepers_.bump(wake_);
  vm_.token().wake_waiters();
  if (vm_.current() == this) vm_.stop_engine_if_deterministic_point();
}

void TcgVcpu::end_turn_to_lead() {
  leads_next_.store(true, std::memory_order_relaxed);
  kicked_.store(true, std::memory_order_release);
}

// On this vCPU's own thread, in the signal handler: only atomics. A wait the
// signal interrupted sees the changed words when it loops.
void TcgVcpu::kicked_by_signal() {
  kicked_.store(true, std::memory_order_release);
  wake_.fetch_add(1, std::memory_order_release);
  vm_.token().poke_from_signal();
  if (vm_.current() == this && !vm_.det()) vm_.stop_engine();  // deterministic: noticed at the next service point
}

void TcgVcpu::interrupt_posted() {
  if (vm_.det()) {
    // Posted by the turn holder at a fixed point: only the holder itself
    // stops (at its next block) to take it; the others see it when the
    // schedule looks at whom to run next.
    if (vm_.current() == this) vm_.stop_engine();
    return;
  }
  wake_sleepers_.bump(wake_);
  // The running vCPU stops at its next block: to take the interrupt, or to
  // let this one (if it waits for the token) run soon.
  if (vm_.current()) vm_.stop_engine();
}

void TcgVcpu::post_init() {
  init_pending_ = true;
  interrupt_posted();
}

void TcgVcpu::post_sipi(uint8_t page) {
  sipi_pending_ = page;
  interrupt_posted();
}

// --- taking turns on the engine ---

// This vCPU's CPU into the engine. `to_run`: it is to execute, so the
// engine's TLB (not part of the saved bytes) must hold its translations: a
// flush (hundreds of us here) if another vCPU ran last. Reading or writing
// a parked vCPU's state needs no flush.
void TcgVcpu::load(bool to_run) {
  if (to_run) state_off_engine_.reset();  // it may change from here on
  if (vm_.loaded != this) {
    cpu_.restore();
    vm_.loaded = this;
  }
  if (to_run && vm_.tlb_owner != this) {
    uc_ctl_flush_tlb(vm_.engine());
    vm_.tlb_owner = this;
  }
}

void TcgVcpu::store() { cpu_.save(); }

void TcgVcpu::take_engine() {
  static const std::atomic<bool> never{false};
  vm_.token().acquire(index_, never);
  vm_.set_current(this);
  load();
}

void TcgVcpu::give_engine(bool yield, bool changed) {
  if (changed) store();  // unchanged, the saved bytes are the engine's already
  vm_.set_current(nullptr);
  if (leads_next_.exchange(false, std::memory_order_relaxed) && !yield) {
    paused_for_lead_ = true;
    vm_.token().release_for_lead(index_, vm_.slice_end_ns());
  } else {
    IdleWhile idle{*this};
    vm_.token().release(index_, yield, idle);
  }
}

// Whether an interrupt can be taken now: a vector pending above the TPR,
// IF set and no interrupt shadow (engine loaded with this vCPU).
bool TcgVcpu::interrupt_ready(bool& blocked_by_shadow) {
  blocked_by_shadow = false;
  {
    std::lock_guard lock(vm_.platform_mutex());
    if (lapic_->pending() < 0) return false;
  }
  if (!(reg_read(vm_.engine(), UC_X86_REG_RFLAGS) & kIf)) return false;
  if (live().get<uint32_t>(uc_layout().hflags) & hf::inhibit_irq) {
    blocked_by_shadow = true;
    return false;
  }
  return true;
}

// Delivers the highest pending LAPIC vector if it can be taken now.
bool TcgVcpu::inject_pending() {
  if (carried_vector_ >= 0) {  // taken from the LAPIC before a checkpoint (KVM), not yet delivered
    Event ev;
    ev.vector = uint8_t(carried_vector_);
    ev.kind = Event::Kind::external;
    carried_vector_ = -1;
    run_state_ = RunState::running;
    return deliver(ev);
  }
  bool shadow = false;
  if (!interrupt_ready(shadow)) {
    if (shadow) {
      skip_blocks_ = 1;  // run past the shadowed instruction, then stop and try again
      vm_.stop_engine();
    }
    return false;
  }
  int vector;
  {
    std::lock_guard lock(vm_.platform_mutex());
    vector = lapic_->pending();
    if (vector < 0) return false;
    lapic_->acknowledge(uint8_t(vector));
  }
  Event ev;
  ev.vector = uint8_t(vector);
  ev.kind = Event::Kind::external;
  run_state_ = RunState::running;
  return deliver(ev);
}

CpuBytes TcgVcpu::live() {
  if (uint8_t* p = vm_.live_cpu()) return CpuBytes(p);
  cpu_.save();
  return cpu_;
}

void TcgVcpu::live_done() {
  if (!vm_.live_cpu()) cpu_.restore();
}

// Delivers `ev` through the guest's IDT on the engine (token held, this
// vCPU loaded). False after a triple fault (the vCPU stops) or a write
// guest memory refused (the power failed: write_withheld_).
bool TcgVcpu::deliver(const Event& ev) {
  CpuBytes c = live();
  CpuState s = read_control(c);
  DeliveryResult& r = delivery_;
  tcg::deliver(s, vm_.memory(), ev, r);
  // The frame and the page tables' accessed/dirty bits went into guest
  // memory past the engine: log their pages (only those written), a
  // delivery that ended in a triple fault included (its walks set bits too).
  if (auto* log = vm_.store_log())
    for (uint64_t page : r.pages_written) log->mark_landed(page);
  if (r.outcome == DeliveryResult::Outcome::triple_fault) {
    fail_stop(r.detail.rfind("triple fault", 0) == 0 ? r.detail : "triple fault (" + r.detail + ")");
    return false;
  }
  if (r.outcome == DeliveryResult::Outcome::write_refused) {
    write_withheld_ = true;
    return false;
  }
  if (r.delivered_vector != ev.vector)
    log::get("tcg")->debug("vCPU {}: vector {} ({}) delivered as {}: {}", index_, ev.vector, int(ev.kind), r.delivered_vector, r.detail);
  const auto& L = uc_layout();  // the bytes still hold the engine's state: change only what delivery did
  c.set<uint64_t>(L.regs + 8 * accel::rsp, s.gpr[rsp]);
  c.set<uint64_t>(L.eip, s.rip);
  c.set_segment_at(L.segs + 24 * uc_cs, s.cs);
  c.set_segment_at(L.segs + 24 * uc_ss, s.ss);
  c.set<uint64_t>(L.cr + 16, s.cr2);
  c.set<uint32_t>(L.hflags, c.get<uint32_t>(L.hflags) & ~hf::inhibit_irq);
  c.update_mode_flags(s.cr0, s.efer, s.rflags);
  c.set<int32_t>(L.old_exception, -1);  // QEMU's "exception in progress": delivered now
  live_done();
  reg_write(vm_.engine(), UC_X86_REG_RFLAGS, s.rflags);
  return true;
}

// Halted or waiting for a start-up IPI: sleep until something for this vCPU happens.
void TcgVcpu::idle_wait() {
  uint32_t w = wake_.load(std::memory_order_acquire);
  if (kicked_.load() || init_pending_.load() || sipi_pending_.load() >= 0) return;
  if (run_state_ == RunState::halted) {
    std::lock_guard lock(vm_.platform_mutex());
    if (lapic_->pending() >= 0 && (cpu_.get<uint64_t>(uc_layout().eflags) & kIf)) return;
  }
  vm_.token().set_runnable(index_, false);
  vm_.token().drop_reservation(index_);  // a turn paused for a checkpoint does not go on
  paused_for_lead_ = false;
  vm_.token().wake_deferred();  // no vCPU may sleep on a free engine while this one sleeps too
  enter_idle();
  wake_sleepers_.wait(wake_, w, 100'000'000);
  leave_idle();
  vm_.token().set_runnable(index_, true);
}

void TcgVcpu::enter_idle() { activity_.store(kIdle, std::memory_order_seq_cst); }

void TcgVcpu::leave_idle() {
  for (;;) {
    uint32_t idle = kIdle;
    if (activity_.compare_exchange_strong(idle, kBusy, std::memory_order_acq_rel)) return;
    futex_wait(activity_, kHeld);  // held: until release_hold()
  }
}

// Any thread (the checkpoint leader). A deterministic machine schedules its
// vCPUs itself: never held.
bool TcgVcpu::hold_if_idle() {
  if (vm_.det()) return false;
  uint32_t idle = kIdle;
  return activity_.compare_exchange_strong(idle, kHeld, std::memory_order_acq_rel);
}

void TcgVcpu::release_hold() {
  activity_.store(kIdle, std::memory_order_release);
  futex_wake(activity_);
  vm_.token().wake_deferred();  // held while waiting for the engine, which the leader gave back quietly
}

// The state an INIT leaves and a start-up IPI starts from: real mode at page:0.
void TcgVcpu::start_from_sipi(uint8_t page) {
  CpuState s;
  s.index = index_;
  Segment data;
  data.limit = 0xffff;
  data.type = 3;
  data.present = 1;
  data.s = 1;
  s.ds = s.es = s.fs = s.gs = s.ss = data;
  s.cs = data;
  s.cs.type = 0xb;
  s.cs.selector = uint16_t(page) << 8;
  s.cs.base = uint64_t(page) << 12;
  s.ldt.limit = 0xffff;
  s.ldt.type = 2;
  s.ldt.present = 1;
  s.tr.limit = 0xffff;
  s.tr.type = 0xb;
  s.tr.present = 1;
  s.gdt.limit = s.idt.limit = 0xffff;
  s.cr0 = 0x60000010;
  s.rip = 0;
  s.rflags = 2;
  s.run_state = RunState::running;
  write_engine(s);
  run_state_ = RunState::running;
}

// A stop asked for at a block's start lets that block run on, and an
// exception it raises then is dropped by Unicorn (the faulting instruction
// runs again on resume) but leaves QEMU's "exception in flight" set: the
// retry would become a double fault. Clear it.
void TcgVcpu::clear_exception_in_flight() {
  const auto& L = uc_layout();
  CpuBytes c = live();
  if (c.get<int32_t>(L.old_exception) == -1) return;
  c.set<int32_t>(L.old_exception, -1);
  live_done();
}

void TcgVcpu::fail_stop(std::string why) {
  if (failure_.empty()) failure_ = std::move(why);
  stop_ = Stop::failed;
  uc_emu_stop(vm_.engine());
}

// An INIT or start-up IPI posted since the last turn (token held).
void TcgVcpu::take_init_sipi() {
  if (init_pending_.exchange(false)) {
    run_state_ = RunState::wait_for_sipi;
    std::lock_guard lock(vm_.platform_mutex());
    lapic_->reset();
  }
  int page = sipi_pending_.exchange(-1);
  if (page >= 0 && run_state_ == RunState::wait_for_sipi) start_from_sipi(uint8_t(page));
}

// One turn: the vCPU's thread needs the CPU back for a halt, a kick, a pause or a failure.
Exit TcgVcpu::run() {
  if (vm_.det()) return run_det();
  if (kicked_.exchange(false)) {
    leads_next_.store(false, std::memory_order_relaxed);  // asked while it was not running: nothing to give back
    return Exit{};
  }
  bool wakes = init_pending_.load() || sipi_pending_.load() >= 0;
  if (!wakes && run_state_ != RunState::running) {
    bool ready = false;
    if (run_state_ == RunState::halted) {
      std::lock_guard lock(vm_.platform_mutex());
      ready = lapic_->pending() >= 0 && (cpu_.get<uint64_t>(uc_layout().eflags) & kIf);
    }
    if (!ready) {
      idle_wait();
      return Exit{};
    }
  }
  IdleWhile idle{*this};
  if (!vm_.token().acquire_turn(index_, kicked_, idle)) {
    kicked_ = false;
    leads_next_.store(false, std::memory_order_relaxed);
    return Exit{};
  }
  vm_.set_current(this);
  vm_.begin_turn(this, std::exchange(paused_for_lead_, false));
  load(true);
  take_init_sipi();
  yielded_ = false;
  Exit e = run_state_ == RunState::wait_for_sipi ? Exit{} : run_turn();
  give_engine(yielded_);
  return e;
}

// A kick (a pause, a checkpoint led elsewhere) ends this turn early: if
// another vCPU waits for the engine, the next turn is its own, not this
// one's again. A turn ended to lead a checkpoint goes on after it instead
// (RunToken::release_for_lead).
Exit TcgVcpu::turn_cut_short() {
  if (!leads_next_.load(std::memory_order_relaxed) && vm_.token().others_want(index_)) vm_.token().owe_turn(index_);
  return Exit{};
}

Exit TcgVcpu::run_turn() {
  for (;;) {
    vm_.clear_stop();
    if (kicked_.exchange(false)) return turn_cut_short();
    if (!failure_.empty()) return failed(failure_);
    inject_pending();
    if (write_withheld_) return Exit{};
    if (!failure_.empty()) return failed(failure_);
    if (run_state_ == RunState::halted) {
      Exit h;
      h.kind = Exit::Kind::halt;
      return h;
    }
    if (auto failure = run_engine()) return *failure;
    if (stop_ == Stop::yield) {
      if (kicked_.load()) return turn_cut_short();
      if (vm_.token().others_want(index_)) {
        yielded_ = true;
        return Exit{};
      }
    }
  }
}

// Runs the engine until it stops; a failure as an Exit, else nothing
// (stop_ says why it stopped; a halt leaves the vCPU halted).
std::optional<Exit> TcgVcpu::run_engine() {
  uc_engine* uc = vm_.engine();
  if (stop_ == Stop::yield) clear_exception_in_flight();
  stop_ = Stop::none;
  uint64_t rip = reg_read(uc, UC_X86_REG_RIP);
  refused_.reset();
  uc_err err = uc_emu_start(uc, rip, kNowhere, 0, 0);
  skip_blocks_ = 0;
  if (write_withheld_) return Exit{};  // the power failed: the write never landed
  if (err == UC_ERR_EXCEPTION && refused_) {
    if (!deliver_refused_fill()) return write_withheld_ ? Exit{} : failed(failure_);
    stop_ = Stop::yield;  // not a halt: run on after the usual checks
    return std::nullopt;
  }
  if (err == UC_ERR_INSN_INVALID) stop_ = Stop::invalid_insn;  // stops the run whatever the hook says
  if (err != UC_ERR_OK && stop_ != Stop::invalid_insn)
    return failed(!failure_.empty() ? failure_
                                    : fmt::format("software CPU error: {} at rip {:#x}", uc_strerror(err),
                                                  reg_read(uc, UC_X86_REG_RIP)));
  // Stops from other threads go through Unicorn's own (async_stop): the run
  // then ended at a hlt only if QEMU says the CPU halted.
  if (stop_ == Stop::none && vm_.async_stop() && !uc_halted(vm_.live_cpu())) stop_ = Stop::yield;
  switch (stop_) {
    case Stop::none: run_state_ = RunState::halted; break;  // hlt: RIP is past it
    case Stop::yield: break;
    case Stop::failed: return failed(failure_);
    case Stop::invalid_insn: {
      Event ev;
      ev.vector = 6;  // #UD, at the instruction
      ev.kind = Event::Kind::exception;
      if (!deliver(ev)) return write_withheld_ ? Exit{} : failed(failure_);
      break;
    }
  }
  return std::nullopt;
}

// --- engine hooks ---

// A block starts: count it (deterministic machine) and stop if something
// is due or asked for. The block after an interrupt shadow always runs
// (its skip is consumed whether a stop is pending or not, so that where a
// vCPU stops never depends on when another thread asked).
void TcgVcpu::on_block() {
  DetSchedule* det = vm_.det();
  bool due = det && det->due();
  if (skip_blocks_ || (!due && !vm_.stop_requested())) {
    if (skip_blocks_) --skip_blocks_;
    if (det) det->count_block();
    return;
  }
  // Stopped at its hook, the block does not run (Unicorn checks for a stop
  // right after the hook): it is not counted, so the count is of blocks run
  // and an event at block N comes after N blocks however the run got there
  // (a stop here, or a hlt ending block N).
  stop_ = Stop::yield;
  uc_emu_stop(vm_.engine());
}

void TcgVcpu::on_interrupt(uint32_t intno) {
  const auto& L = uc_layout();
  CpuBytes c = live();
  Event ev;
  ev.vector = uint8_t(intno);
  ev.kind = c.get<int32_t>(L.exception_is_int) ? Event::Kind::software : Event::Kind::exception;
  ev.error = uint32_t(c.get<int32_t>(L.error_code));
  ev.has_error = ev.kind == Event::Kind::exception && has_error_code(ev.vector);
  ev.cr2 = c.get<uint64_t>(L.cr + 16);
  if (ev.kind == Event::Kind::software && intno == 3) ev.insn_length = 1;
  if (!deliver(ev)) uc_emu_stop(vm_.engine());
}

// The engine's TLB missed `vaddr`'s page: translate it through the
// guest's tables (tlb_fill.h). A store marks the page dirty and gets write
// rights; a load or fetch gets them only for a page already marked in this
// epoch (and dirty in the guest's tables), so that a clean page's first
// store misses again and is logged (and, under copy-on-write in the
// store path, its page is backed up first). A fault is refused: the run ends with
// UC_ERR_EXCEPTION at the faulting instruction and run_engine delivers it.
bool TcgVcpu::on_tlb_fill(uint64_t vaddr, uc_mem_type type, uc_tlb_entry& entry) {
  uc_engine* uc = vm_.engine();
  CpuState& s = fill_cpu_;
  s.cr0 = reg_read(uc, UC_X86_REG_CR0);
  s.cr3 = reg_read(uc, UC_X86_REG_CR3);
  s.cr4 = reg_read(uc, UC_X86_REG_CR4);
  s.efer = msr_read(uc, 0xc0000080);  // EFER
  s.cs.selector = uint16_t(reg_read(uc, UC_X86_REG_CS));
  FillAccess access = type == UC_MEM_WRITE ? FillAccess::write : type == UC_MEM_FETCH ? FillAccess::fetch : FillAccess::read;
  FillDecision d = decide_fill(vm_.memory(), s, vaddr, access);
  StoreDirtyLog& log = *vm_.store_log();
  for (unsigned k = 0; k < d.tables_written_count; ++k) log.mark_landed(d.tables_written[k]);
  if (d.tables_refused) {
    write_withheld_ = true;
    return false;
  }
  if (d.kind != FillDecision::Kind::map) {
    refused_ = d;
    return false;
  }
  bool ram = vm_.memory().contains(d.phys_page, 1);
  if (ram && access == FillAccess::write) {
    // Copy-on-write (write_guard.h): the page is backed up before its first store lands.
    if (!vm_.memory().before_write(d.phys_page, 1)) {
      write_withheld_ = true;
      return false;
    }
    log.mark_landed(d.phys_page);
  }
  // A load's fill gives write rights only to a page stored to this epoch,
  // and never to one the copy-on-write guard still has to back up.
  bool writable = d.writable && (!ram || access == FillAccess::write ||
                                 (d.dirty && log.marked(d.phys_page) && !vm_.memory().guarded(d.phys_page)));
  entry.paddr = d.phys_page;
  entry.perms = uc_prot((d.readable ? UC_PROT_READ : 0) | (writable ? UC_PROT_WRITE : 0) | (d.executable ? UC_PROT_EXEC : 0));
  return true;
}

bool TcgVcpu::deliver_refused_fill() {
  Event ev;
  ev.kind = Event::Kind::exception;
  ev.has_error = true;
  if (refused_->kind == FillDecision::Kind::gp_fault) {
    ev.vector = 13;
  } else {
    ev.vector = 14;
    ev.error = refused_->pf_error;
    ev.cr2 = uc_refused_address(vm_.engine());
  }
  refused_.reset();
  return deliver(ev);
}

void TcgVcpu::on_invalid_insn() {
  stop_ = Stop::invalid_insn;
  uc_emu_stop(vm_.engine());
}

bool TcgVcpu::on_unmapped(uc_mem_type type, uint64_t addr, int size) {
  bool write = type == UC_MEM_WRITE_UNMAPPED;
  fail_stop(type == UC_MEM_FETCH_UNMAPPED ? fmt::format("instruction fetch from {:#x}, which is not guest RAM", addr)
                                          : unowned_access(false, addr, unsigned(size), write));
  return false;
}

uint32_t TcgVcpu::on_in(uint32_t port, int size) {
  uint8_t data[4] = {};
  if (!vm_.platform_pio(uint16_t(port), data, unsigned(size), false) &&
      !io_.pio(uint16_t(port), data, unsigned(size), false)) {
    fail_stop(unowned_access(true, port, unsigned(size), false));
    return 0xffffffff;
  }
  uint32_t v = 0;
  std::memcpy(&v, data, unsigned(size));
  return v;
}

void TcgVcpu::on_out(uint32_t port, int size, uint32_t value) {
  uint8_t data[4];
  std::memcpy(data, &value, 4);
  if (!vm_.platform_pio(uint16_t(port), data, unsigned(size), true) &&
      !io_.pio(uint16_t(port), data, unsigned(size), true))
    fail_stop(unowned_access(true, port, unsigned(size), true));
}

uint64_t TcgVcpu::on_mmio_read(uint64_t addr, unsigned size) {
  if (addr >= kLapicBase && addr < kLapicBase + 0x1000) {
    std::lock_guard lock(vm_.platform_mutex());
    return lapic_->read(uint32_t(addr - kLapicBase) & ~3u);
  }
  if (addr >= kIoapicBase && addr < kIoapicBase + 0x1000) {
    std::lock_guard lock(vm_.platform_mutex());
    return vm_.ioapic().read(uint32_t(addr - kIoapicBase));
  }
  uint8_t data[8] = {};
  if (!io_.mmio(addr, data, size, false)) {
    fail_stop(unowned_access(false, addr, size, false));
    return 0;
  }
  uint64_t v = 0;
  std::memcpy(&v, data, size);
  return v;
}

void TcgVcpu::on_mmio_write(uint64_t addr, unsigned size, uint64_t value) {
  if (addr >= kLapicBase && addr < kLapicBase + 0x1000) {
    std::lock_guard lock(vm_.platform_mutex());
    lapic_->write(uint32_t(addr - kLapicBase) & ~3u, uint32_t(value));
    vm_.timer_changed(lapic_->timer_deadline());
    return;
  }
  if (addr >= kIoapicBase && addr < kIoapicBase + 0x1000) {
    std::lock_guard lock(vm_.platform_mutex());
    vm_.ioapic().write(uint32_t(addr - kIoapicBase), uint32_t(value));
    return;
  }
  uint8_t data[8];
  std::memcpy(data, &value, 8);
  if (!io_.mmio(addr, data, size, true)) fail_stop(unowned_access(false, addr, size, true));
}

void TcgVcpu::on_cpuid() {
  uc_engine* uc = vm_.engine();
  auto r = cpuid(uint32_t(reg_read(uc, UC_X86_REG_RAX)), uint32_t(reg_read(uc, UC_X86_REG_RCX)), index_, vm_.vcpu_count(),
                 vm_.det() != nullptr);
  reg_write(uc, UC_X86_REG_RAX, r.eax);
  reg_write(uc, UC_X86_REG_RBX, r.ebx);
  reg_write(uc, UC_X86_REG_RCX, r.ecx);
  reg_write(uc, UC_X86_REG_RDX, r.edx);
}

// --- the neutral state ---

// Engine -> CpuState (token held, this vCPU loaded).
// What delivery needs, from the CPU bytes `c` (see live(); one API
// call: RFLAGS, whose arithmetic flags QEMU computes lazily). The hot path:
// every system call (int3) and page fault comes through here.
CpuState TcgVcpu::read_control(const CpuBytes& c) {
  const auto& L = uc_layout();
  CpuState s;
  s.index = index_;
  for (unsigned i = 0; i < 16; ++i) s.gpr[i] = c.get<uint64_t>(L.regs + 8 * i);
  s.rip = c.get<uint64_t>(L.eip);
  s.rflags = reg_read(vm_.engine(), UC_X86_REG_RFLAGS);
  s.es = c.segment_at(L.segs + 24 * uc_es);
  s.cs = c.segment_at(L.segs + 24 * uc_cs);
  s.ss = c.segment_at(L.segs + 24 * uc_ss);
  s.ds = c.segment_at(L.segs + 24 * uc_ds);
  s.fs = c.segment_at(L.segs + 24 * uc_fs);
  s.gs = c.segment_at(L.segs + 24 * uc_gs);
  s.ldt = c.segment_at(L.ldt);
  s.tr = c.segment_at(L.tr);
  s.tr.type = tss_busy(s.tr.type);
  s.gdt.base = c.get<uint64_t>(L.gdt + 8);
  s.gdt.limit = uint16_t(c.get<uint32_t>(L.gdt + 16));
  s.idt.base = c.get<uint64_t>(L.idt + 8);
  s.idt.limit = uint16_t(c.get<uint32_t>(L.idt + 16));
  s.cr0 = c.get<uint64_t>(L.cr);
  s.cr2 = c.get<uint64_t>(L.cr + 16);
  s.cr3 = c.get<uint64_t>(L.cr + 24);
  s.cr4 = c.get<uint64_t>(L.cr + 32);
  s.efer = c.get<uint64_t>(L.efer);
  s.interrupt_shadow = (c.get<uint32_t>(L.hflags) & hf::inhibit_irq) ? 1 : 0;
  s.run_state = run_state_;
  return s;
}

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
      give_engine(false, false);
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
  if (!mine) give_engine();
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
