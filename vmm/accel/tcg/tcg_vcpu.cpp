#include "vmm/accel/tcg/tcg_vcpu.h"

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

constexpr uint64_t kNowhere = 0xfffffffffffff000ull;  // non-canonical: emulation never "reaches" it
constexpr uint64_t kIf = 1u << 9;

Exit failed(std::string reason) {
  Exit e;
  e.kind = Exit::Kind::failed;
  e.reason = std::move(reason);
  return e;
}

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

void TcgVcpu::give_engine(bool yield) {
  store();
  vm_.set_current(nullptr);
  if (leads_next_.exchange(false, std::memory_order_relaxed) && !yield) {
    paused_for_lead_ = true;
    vm_.token().release_for_lead(index_, vm_.slice_end_ns());
  } else {
    IdleWhile idle{*this};
    vm_.token().release(index_, yield, idle);
  }
}

void TcgVcpu::return_engine(bool changed) {
  if (changed) store();  // unchanged, the saved bytes are the engine's already
  vm_.set_current(nullptr);
  vm_.token().release(index_);
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

}  // namespace hsls::accel::tcg
