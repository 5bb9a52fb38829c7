// The software-CPU backend's VM: one Unicorn engine shared by all vCPUs
// (one TB cache, so code written by one vCPU is never stale for another),
// taken in turns through the run token; guest RAM mapped into it from the
// NVM mapping; the platform devices KVM would emulate in the kernel (a
// LAPIC per vCPU, the IOAPIC, the 8259 pair, the PIT) under one lock; a
// timer thread for the LAPIC timers and time slices; the store-path dirty log.
#pragma once
#include <unicorn/unicorn.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "vmm/accel/accel.h"
#include "vmm/accel/tcg/det_schedule.h"
#include "vmm/accel/tcg/run_token.h"
#include "vmm/core/futex.h"
#include "vmm/platform/ioapic.h"
#include "vmm/platform/pic.h"
#include "vmm/platform/pit.h"
#include "vmm/platform/platform.h"

namespace hsls::accel::tcg {

class TcgVcpu;
class StoreDirtyLog;

class TcgVm : public Vm, public platform::ApicBus, public platform::InterruptSink {
 public:
  explicit TcgVm(unsigned vcpus);
  ~TcgVm() override;

  std::string name() const override { return "tcg"; }
  void map_ram(GuestMemory& mem, const DirtyLogRequest& dirty) override;
  void create_platform() override;
  std::unique_ptr<Vcpu> create_vcpu(unsigned index, IoHandler& io) override;
  // A vCPU is being destroyed: the timer thread and the buses stop seeing it.
  void forget_vcpu(TcgVcpu* v);
  void set_irq(uint32_t gsi, bool level) override;
  std::unique_ptr<IrqEdge> irq_edge(uint32_t gsi) override;
  bool bind_mmio_event(uint64_t, uint32_t, int) override { return false; }
  std::unique_ptr<DirtyLog> create_dirty_log() override;
  platform::PlatformState get_platform() override;
  void set_platform(const platform::PlatformState& s) override;
  void power_lost(uint8_t* ram, uint64_t bytes) override;
  bool ram_pages_replaced() const override;
  uint64_t guest_time_ns() const override { return now_ns(); }

  // The deterministic machine (det_schedule.h).
  void make_deterministic(uint64_t seed, bool paced) override;
  bool deterministic() const override { return det_ != nullptr; }
  // The TLB-fed log asks at each page's first store after a harvest (TcgVcpu::on_tlb_fill).
  bool stores_ask_write_guard() const override { return tlb_log_; }
  void set_alarm(uint64_t due_ns, std::function<void()> fn) override;
  void at_block(uint64_t block, std::function<void()> fn, uint64_t not_before_ns = 0) override;
  void post_external(std::function<void(uint64_t block)> fn) override;
  uint64_t blocks_executed() const override { return det_ ? det_->blocks() : 0; }
  // The timer thread keeps the epoch's deadline (not on a deterministic machine).
  bool arm_epoch(uint64_t due_ns) override;
  DetSchedule* det() const { return det_.get(); }
  // Deterministic: fires the LAPIC timers that are due and tells the
  // schedule the next deadline (the turn holder; takes the platform lock).
  void det_fire_timers();
  // The vCPU with APIC ID (= index) `i`, or null.
  TcgVcpu* vcpu_at(unsigned i) { return vcpu_by_apic(i); }

  // platform::ApicBus / InterruptSink (called with the platform lock held)
  void send_ipi(unsigned from_apic, const platform::Ipi& ipi) override;
  void eoi_level(uint8_t vector) override;
  void deliver(uint8_t dest, bool logical, uint8_t vector, bool level, uint8_t delivery_mode) override;

  // --- for the vCPUs ---
  uc_engine* engine() { return uc_; }
  // The engine's own CPU bytes (uc_live_cpu), or null: then a vCPU copies them out and back.
  uint8_t* live_cpu() const { return live_cpu_; }
  RunToken& token() { return token_; }
  std::mutex& platform_mutex() { return mu_; }
  GuestMemory& memory() { return *mem_; }
  platform::Ioapic& ioapic() { return *ioapic_; }
  unsigned vcpu_count() const { return nvcpus_; }
  // The vCPU holding the token (its state is in the engine), or null.
  TcgVcpu* current() const { return current_.load(std::memory_order_acquire); }
  void set_current(TcgVcpu* v) {
    if (v && det_) turn_began_ns_.store(monotonic_ns(), std::memory_order_relaxed);
    current_.store(v, std::memory_order_release);
    on_engine_thread_ = v != nullptr;  // set and cleared by the thread taking and giving the engine
  }
  // vCPU `v` begins a turn (token held): its slice starts now, unless the
  // turn goes on from one that `v` paused to lead a checkpoint.
  void begin_turn(TcgVcpu* v, bool resumed_after_lead) {
    if (!resumed_after_lead || last_turn_ != v) turn_began_ns_.store(monotonic_ns(), std::memory_order_relaxed);
    last_turn_ = v;
  }
  // When the running turn's slice ends (if another vCPU waits).
  uint64_t slice_end_ns() const { return turn_began_ns_.load(std::memory_order_relaxed) + kSliceNs; }
  static constexpr uint64_t kSliceNs = 2'000'000;  // a vCPU's turn when another one waits for the engine
  // Whether the calling thread holds the engine now (a hook, or the turn holder's own code).
  static bool on_engine_thread() { return on_engine_thread_; }
  // Ends the running vCPU's run at its next block when that is where the
  // caller is (or the machine is not deterministic). A deterministic machine
  // ignores a stop asked by another thread at a moment the host chose: the
  // holder notices the request at its next service point (its quantum's
  // end at the latest), a point fixed in guest work, so that where a vCPU
  // stops never depends on the host's timing.
  void stop_engine_if_deterministic_point() {
    if (!det_ || on_engine_thread()) stop_engine();
  }
  // The vCPU whose state the engine holds (to skip reloading it), and the
  // one whose translations its TLB holds (to skip flushing it).
  TcgVcpu* loaded = nullptr;
  TcgVcpu* tlb_owner = nullptr;
  // Ends the running vCPU's run at its next block (any thread, a signal
  // handler included): a flag the block hook reads, or (async_stop())
  // Unicorn's own stop, asked again by the timer thread until it is taken.
  void stop_engine();
  // Whether stops reach the engine from any thread without a block hook
  // (uc_enable_async_stop; not on a deterministic machine, which counts blocks).
  bool async_stop() const { return async_stop_; }
  bool stop_requested() const { return stop_.load(std::memory_order_relaxed); }
  // Whether the block hook must ask the vCPU (a stop asked for, or blocks
  // counted): false on nearly every block, one load and no call.
  bool block_needs_vcpu() const { return det_ || stop_.load(std::memory_order_relaxed); }
  void clear_stop() { stop_.store(false, std::memory_order_relaxed); }
  // A LAPIC timer was programmed (platform lock held): the timer thread
  // looks again, woken only if `deadline_ns`, the new expiry, comes before
  // the wake-up it planned under this same lock. A later or cancelled expiry
  // waits for that wake-up (the guest reprograms its timer at every tick: a
  // system call each, otherwise).
  void timer_changed(uint64_t deadline_ns) {
    if (det_) det_update_deadline_locked();
    else if (deadline_ns < timer_wakes_at_ns_.load(std::memory_order_seq_cst)) wake_timer();
  }
  // Port I/O of the platform devices (PIC, PIT); false if not theirs.
  bool platform_pio(uint16_t port, uint8_t* data, unsigned size, bool write);
  // The memory the VMM itself writes bypasses the store hook: nothing to do
  // here (devices report their pages to the checkpointer themselves).
  StoreDirtyLog* store_log() { return dirty_log_; }
  // The dirty log's harvest (see tcg_vm.cpp); false if it declined (`running` only).
  bool collect_dirty(std::vector<uint64_t>& out, bool running);
  uint64_t now_ns() const;

 private:
  void install_hooks();
  void timer_loop();
  TcgVcpu* vcpu_by_apic(unsigned apic_id);

  unsigned nvcpus_;
  uc_engine* uc_ = nullptr;
  uint8_t* live_cpu_ = nullptr;
  GuestMemory* mem_ = nullptr;
  uint8_t* ram_base_ = nullptr;  // mem_'s mapping, kept for the destructor (the machine may destroy mem_ first)
  RunToken token_;
  std::atomic<TcgVcpu*> current_{nullptr};
  static inline thread_local bool on_engine_thread_ = false;
  std::atomic<bool> stop_{false};
  bool async_stop_ = false;
  std::atomic<uint64_t> turn_began_ns_{0};  // when the running turn began (its slice's start)
  TcgVcpu* last_turn_ = nullptr;            // whose turn began last (token held)
  // stop_engine's work without waking the timer thread (the timer thread's own stops).
  void ask_engine_to_stop();
  // What the timer thread sleeps on (a futex word: a wake is never lost,
  // and a signal handler may wake it).
  std::atomic<uint32_t> timer_wake_{0};
  FutexSleepers timer_sleepers_;  // the timer thread, asleep on timer_wake_
  void wake_timer();
  // The epoch's deadline (0: none) and when the timer thread wakes next
  // (arm_epoch wakes it only if the new deadline comes sooner).
  std::atomic<uint64_t> epoch_due_ns_{0};
  std::atomic<uint64_t> timer_wakes_at_ns_{0};
  // The deadline passed (timer thread, platform lock held): the running
  // vCPU ends its turn to lead, or vCPU 0 is woken to lead if none runs.
  void end_turn_for_epoch();
  std::mutex mu_;  // the platform devices and the vCPUs' LAPICs
  std::unique_ptr<platform::Ioapic> ioapic_;
  std::unique_ptr<platform::Pic> pic_;
  std::unique_ptr<platform::Pit> pit_;
  std::vector<TcgVcpu*> vcpus_;
  bool dirty_enabled_ = false;
  bool tlb_log_ = false;
  static constexpr unsigned kHarvester = 0xffff;  // the run token's holder while a harvest has the engine
  StoreDirtyLog* dirty_log_ = nullptr;  // owned by the checkpointer once created
  std::unique_ptr<StoreDirtyLog> dirty_log_owned_;
  std::thread timer_;
  bool timer_stop_ = false;
  std::vector<uc_hook> hooks_;
  std::unique_ptr<DetSchedule> det_;
  // Deterministic: the next LAPIC deadline to the schedule (platform lock held).
  void det_update_deadline_locked();
};

}  // namespace hsls::accel::tcg
