// A software-CPU vCPU: its saved CPU bytes while it is not running, its
// LAPIC, its run state. run() takes the run token, loads the vCPU into the
// shared engine, injects a pending interrupt when IF allows, runs the
// engine until something needs the vCPU's thread (a halt, a kick, the end
// of its slice, an unrecoverable fault), and saves it back.
// Exceptions (int3 system calls, page faults) are delivered through the
// guest's IDT inside the engine's interrupt hook, without leaving it.
// tcg_vcpu.cpp: turns, delivery, the run; tcg_vcpu_hooks.cpp: the engine's
// hooks; tcg_vcpu_state.cpp: the neutral state in and out of the engine;
// tcg_vcpu_det.cpp: the deterministic machine's run.
#pragma once
#include <unicorn/unicorn.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "vmm/accel/accel.h"
#include "vmm/accel/tcg/delivery.h"
#include "vmm/accel/tcg/tlb_fill.h"
#include "vmm/accel/tcg/uc_cpu.h"
#include "vmm/core/futex.h"
#include "vmm/platform/lapic.h"

namespace hsls::accel::tcg {

class TcgVm;
struct Event;

class TcgVcpu : public Vcpu {
 public:
  TcgVcpu(TcgVm& vm, unsigned index, IoHandler& io);
  ~TcgVcpu() override;

  unsigned index() const override { return index_; }
  void thread_started() override;
  void thread_ended() override;
  Exit run() override;
  void kick() override;
  void kicked_by_signal() override;
  bool hold_if_idle() override;
  void release_hold() override;
  void complete_pending_io() override {}  // accesses complete inside the engine
  CpuState get_state() override;
  void set_state(const CpuState& s) override;
  platform::LapicState get_lapic() override;
  void set_lapic(const platform::LapicState& s) override;

  // --- for the VM and the engine's hooks (token or platform lock held as said) ---
  platform::Lapic& lapic() { return *lapic_; }
  // An interrupt became pending (platform lock held): wake or stop the vCPU.
  void interrupt_posted();
  // The epoch's deadline passed while this vCPU holds the engine (the timer
  // thread): its turn ends at the next block, without waking the vCPUs
  // waiting for the engine, and its thread leads the checkpoint.
  void end_turn_to_lead();
  // INIT / start-up IPI (platform lock held).
  void post_init();
  void post_sipi(uint8_t page);
  // Engine hooks (token held, this vCPU current).
  void on_interrupt(uint32_t intno);
  void on_invalid_insn();
  bool on_unmapped(uc_mem_type type, uint64_t addr, int size);
  uint32_t on_in(uint32_t port, int size);
  void on_out(uint32_t port, int size, uint32_t value);
  uint64_t on_mmio_read(uint64_t addr, unsigned size);
  void on_mmio_write(uint64_t addr, unsigned size, uint64_t value);
  void on_cpuid();
  void on_block();
  // The engine's TLB missed (a TLB-fed dirty log): translate, or refuse a fault.
  bool on_tlb_fill(uint64_t vaddr, uc_mem_type type, uc_tlb_entry& entry);
  // Deterministic: whether this vCPU could run now if given the turn (it is parked).
  bool det_runnable();

 private:
  enum class Stop { none, yield, failed, invalid_insn };
  Exit run_turn();
  Exit turn_cut_short();
  std::optional<Exit> run_engine();
  // The deterministic machine's run (tcg_vcpu_det.cpp).
  Exit run_det();
  Exit det_turn();
  bool det_service();
  bool det_next_turn();
  template <typename Fn>
  void det_call_outside(Fn&& fn);
  void load(bool to_run = false);  // this vCPU's bytes -> engine (token held)
  void store();  // engine -> this vCPU's bytes (token held)
  void take_engine();
  // This vCPU's own thread ends its time on the engine (a turn, or the
  // deterministic machine's hand-back).
  void give_engine(bool yield = false);
  // Another thread's use of the engine for this vCPU's state (take_engine)
  // is over: the engine goes back, and nothing of the vCPU's own thread
  // (its idle mark, a lead it owes) changes.
  void return_engine(bool changed);
  bool inject_pending();
  bool deliver(const Event& ev);
  bool interrupt_ready(bool& blocked_by_shadow);
  void idle_wait();
  // Marks this vCPU idle around a wait for the run token (a checkpoint may hold it there).
  struct IdleWhile {
    TcgVcpu& v;
    void enter() { v.enter_idle(); }
    void leave() { v.leave_idle(); }
  };
  // Around every sleep of this vCPU's thread: enter_idle() lets a
  // checkpoint hold it; leave_idle() waits while it is held.
  void enter_idle();
  void leave_idle();
  void start_from_sipi(uint8_t page);
  void take_init_sipi();
  void fail_stop(std::string why);
  void clear_exception_in_flight();
  // A fault the TLB fill refused ended the run: deliver it (#PF with the exact address, or #GP).
  bool deliver_refused_fill();
  // The loaded CPU's bytes to read or change in place: the engine's own, or
  // (a library without them at hand) a copy that live_done() writes back.
  CpuBytes live();
  void live_done();
  CpuState read_engine();
  uint64_t clock_now() const;
  CpuState read_control(const CpuBytes& c);
  void write_engine(const CpuState& s);

  TcgVm& vm_;
  unsigned index_;
  IoHandler& io_;
  UcCpu cpu_;  // this vCPU's CPU bytes while it is not in the engine
  std::unique_ptr<platform::Lapic> lapic_;
  RunState run_state_;
  std::atomic<bool> kicked_{false};
  std::atomic<uint32_t> wake_{0};       // idle waits sleep on it
  FutexSleepers wake_sleepers_;  // this vCPU's thread, asleep on wake_ (idle_wait)
  enum Activity : uint32_t { kBusy, kIdle, kHeld };
  std::atomic<uint32_t> activity_{kBusy};  // kHeld: a checkpoint holds this idle vCPU (hold_if_idle)
  std::atomic<bool> init_pending_{false};
  std::atomic<int> sipi_pending_{-1};
  Stop stop_ = Stop::none;
  std::string failure_;
  unsigned skip_blocks_ = 0;
  bool yielded_ = false;  // the last turn ended to let a waiting vCPU run
  std::atomic<bool> leads_next_{false};  // the turn ends for a checkpoint this vCPU leads (end_turn_to_lead)
  bool paused_for_lead_ = false;  // its last turn ended to lead a checkpoint: the next one goes on from it
  int carried_vector_ = -1;  // an interrupt a loaded state had taken but not delivered
  // The state a checkpoint last read while it held this vCPU; it holds
  // until the vCPU next runs (load(true)) or is set. An idle vCPU is read
  // at every checkpoint, mostly unchanged (get_state).
  std::optional<CpuState> state_off_engine_;
  CpuState fill_cpu_;        // the paging registers a TLB fill walks with (scratch)
  DeliveryResult delivery_;  // the last delivery's result; kept so its buffers are reused
  std::optional<FillDecision> refused_;  // the last fill refused in this run
  // Guest memory refused a write (a store's fill, a delivery's frame or
  // accessed bits): its page could not be backed up, the power failed. The
  // vCPU leaves at once and never runs again: the machine is going down
  // (power back on builds a new one).
  bool write_withheld_ = false;
};

}  // namespace hsls::accel::tcg
