#include "vmm/accel/tcg/tcg_vm.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>

#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "vmm/accel/tcg/store_dirty_log.h"
#include "vmm/accel/tcg/tcg_vcpu.h"
#include "vmm/accel/tcg/uc_cpu.h"
#include "vmm/core/clock.h"
#include "vmm/core/error.h"
#include "vmm/core/log.h"

namespace hsls::accel::tcg {
namespace {

constexpr uint64_t kMmioBase = 0xc0000000, kMmioSize = 0x40000000;  // the 32-bit device hole
constexpr uint64_t kIoapicBase = 0xfec00000;
// How soon the timer thread asks again for a stop the engine has not taken
// (uc_emu_start forgets one asked for just before it began).
constexpr uint64_t kStopRetryNs = 100'000;
// How soon the timer thread asks again for a checkpoint that has not begun
// (its vCPU was paused, or left its turn for something else first).
constexpr uint64_t kEpochRetryNs = 1'000'000;

void check(uc_err err, const std::string& what) {
  if (err != UC_ERR_OK) throw Error(fmt::format("software CPU: {}: {}", what, uc_strerror(err)));
}

// --- engine hooks: each goes to the vCPU holding the engine ---
TcgVcpu* cur(void* vm) { return static_cast<TcgVm*>(vm)->current(); }

// Runs at every translated block: the common case returns after one load.
void hook_block(uc_engine*, uint64_t, uint32_t, void* vm) {
  auto* m = static_cast<TcgVm*>(vm);
  if (!m->block_needs_vcpu()) return;
  if (auto* v = m->current()) v->on_block();
}
void hook_intr(uc_engine*, uint32_t intno, void* vm) {
  if (auto* v = cur(vm)) v->on_interrupt(intno);
  else log::get("tcg")->error("exception {} with no vCPU on the engine", intno);
}
bool hook_invalid(uc_engine*, void* vm) {
  if (auto* v = cur(vm)) v->on_invalid_insn();
  return false;
}
bool hook_unmapped(uc_engine*, uc_mem_type type, uint64_t addr, int size, int64_t, void* vm) {
  auto* v = cur(vm);
  return v ? v->on_unmapped(type, addr, size) : false;
}
uint32_t hook_in(uc_engine*, uint32_t port, int size, void* vm) {
  auto* v = cur(vm);
  return v ? v->on_in(port, size) : 0xffffffff;
}
void hook_out(uc_engine*, uint32_t port, int size, uint32_t value, void* vm) {
  if (auto* v = cur(vm)) v->on_out(port, size, value);
}
int hook_cpuid(uc_engine*, void* vm) {
  if (auto* v = cur(vm)) v->on_cpuid();
  return 1;  // answered: skip Unicorn's own
}
void hook_write(uc_engine*, uc_mem_type, uint64_t addr, int size, int64_t, void* log) {
  static_cast<StoreDirtyLog*>(log)->mark(addr, unsigned(size));
}
bool hook_tlb_fill(uc_engine*, uint64_t vaddr, uc_mem_type type, uc_tlb_entry* e, void* vm) {
  auto* v = cur(vm);
  return v ? v->on_tlb_fill(vaddr, type, *e) : false;
}
uint64_t mmio_read(uc_engine*, uint64_t offset, unsigned size, void* vm) {
  auto* v = cur(vm);
  return v ? v->on_mmio_read(kMmioBase + offset, size) : 0;
}
void mmio_write(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* vm) {
  if (auto* v = cur(vm)) v->on_mmio_write(kMmioBase + offset, size, value);
}

// After a power failure, guest RAM is read-only; a store the engine still
// makes before it stops lands in a private scratch page instead of
// crashing the VMM (and never reaches the NVM file).
std::atomic<uint8_t*> g_lost_ram{nullptr};
std::atomic<uint64_t> g_lost_bytes{0};
std::atomic<uint64_t> g_scratch_pages{0};  // pages replaced since the last power_lost
struct sigaction g_old_segv{};

void on_segv(int sig, siginfo_t* info, void* uctx) {
  auto* addr = static_cast<uint8_t*>(info->si_addr);
  uint8_t* ram = g_lost_ram.load();
  if (ram && addr >= ram && addr < ram + g_lost_bytes.load()) {
    void* page = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(addr) & ~uintptr_t(4095));
    if (::mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
      g_scratch_pages.fetch_add(1);
      return;
    }
  }
  // Not ours: what would have happened without us.
  if (g_old_segv.sa_flags & SA_SIGINFO) {
    g_old_segv.sa_sigaction(sig, info, uctx);
  } else if (g_old_segv.sa_handler != SIG_IGN && g_old_segv.sa_handler != SIG_DFL) {
    g_old_segv.sa_handler(sig);
  } else {
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
  }
}

}  // namespace

TcgVm::TcgVm(unsigned vcpus) : nvcpus_(vcpus) {
  uc_layout();  // refuses a Unicorn build whose CPU layout is not the known one
  check(uc_open(UC_ARCH_X86, UC_MODE_64, &uc_), "uc_open");
  // No "until" address: after every run Unicorn would invalidate the TB at
  // until-1 through a page walk that faults silently and sets CR2, and a
  // guest still to read CR2 for a page fault would read that. An empty set
  // of exits instead.
  check(uc_ctl_exits_enable(uc_), "disabling exit addresses");
  live_cpu_ = uc_live_cpu(uc_);
}

TcgVm::~TcgVm() {
  if (ram_base_ && g_lost_ram.load() == ram_base_) g_lost_ram = nullptr;  // that RAM goes with this VM (mem_ may be gone already)
  {
    std::lock_guard lock(mu_);
    timer_stop_ = true;
  }
  wake_timer();
  if (timer_.joinable()) timer_.join();
  if (uc_) uc_close(uc_);
}

uint64_t TcgVm::now_ns() const { return det_ ? det_->now_ns() : monotonic_ns(); }

void TcgVm::map_ram(GuestMemory& mem, const DirtyLogRequest& dirty) {
  mem_ = &mem;
  ram_base_ = mem.host_base();
  for (const auto& r : mem.ranges())
    check(uc_mem_map_ptr(uc_, r.gpa, r.size, UC_PROT_ALL, mem.host_base() + r.host_offset),
          fmt::format("mapping RAM at {:#x}", r.gpa));
  check(uc_mmio_map(uc_, kMmioBase, kMmioSize, mmio_read, this, mmio_write, this), "mapping the device hole");
  dirty_enabled_ = dirty.enabled;
  if (dirty.enabled) {
    if (dirty.kind == "ring" || dirty.kind == "bitmap")
      log::get("ckpt")->info("ckpt.dirty_log = {} is a KVM setting; the software CPU logs first stores at TLB fill (tlb)", dirty.kind);
    tlb_log_ = dirty.kind != "store";  // the store hook only when asked: it makes every store ~5-10x slower
    if (tlb_log_) uc_refused_address(uc_);  // refuses now, by name, a library that would lose page-fault addresses
    dirty_log_owned_ = std::make_unique<StoreDirtyLog>(mem.ranges());
    dirty_log_ = dirty_log_owned_.get();
  }
  install_hooks();
}

void TcgVm::install_hooks() {
  auto add = [&](int type, void* cb, void* user, uint64_t begin, uint64_t end, int insn = -1) {
    uc_hook h;
    uc_err err = insn < 0 ? uc_hook_add(uc_, &h, type, cb, user, begin, end)
                          : uc_hook_add(uc_, &h, type, cb, user, begin, end, insn);
    check(err, "adding a hook");
    hooks_.push_back(h);
  };
  // Stops from other threads: Unicorn's own, made exact, where it can be
  // (no code at every block); else a block hook that reads a flag.
  async_stop_ = !det_ && live_cpu_ && uc_enable_async_stop(uc_);
  if (!async_stop_) add(UC_HOOK_BLOCK, reinterpret_cast<void*>(hook_block), this, 1, 0);
  add(UC_HOOK_INTR, reinterpret_cast<void*>(hook_intr), this, 1, 0);
  add(UC_HOOK_INSN_INVALID, reinterpret_cast<void*>(hook_invalid), this, 1, 0);
  add(UC_HOOK_MEM_UNMAPPED, reinterpret_cast<void*>(hook_unmapped), this, 1, 0);
  add(UC_HOOK_INSN, reinterpret_cast<void*>(hook_in), this, 1, 0, UC_X86_INS_IN);
  add(UC_HOOK_INSN, reinterpret_cast<void*>(hook_out), this, 1, 0, UC_X86_INS_OUT);
  add(UC_HOOK_INSN, reinterpret_cast<void*>(hook_cpuid), this, 1, 0, UC_X86_INS_CPUID);
  if (dirty_log_ && tlb_log_) {
    check(uc_ctl_tlb_mode(uc_, UC_TLB_VIRTUAL), "letting the VMM fill the TLB");
    add(UC_HOOK_TLB_FILL, reinterpret_cast<void*>(hook_tlb_fill), this, 1, 0);
  } else if (dirty_log_) {
    add(UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(hook_write), dirty_log_, 1, 0);
  }
}

void TcgVm::create_platform() {
  ioapic_ = std::make_unique<platform::Ioapic>(*this);
  pic_ = std::make_unique<platform::Pic>();
  pit_ = std::make_unique<platform::Pit>([this] { return now_ns(); });
  if (!det_) timer_ = std::thread([this] { timer_loop(); });  // a deterministic machine fires timers in guest time
}

std::unique_ptr<Vcpu> TcgVm::create_vcpu(unsigned index, IoHandler& io) {
  auto v = std::make_unique<TcgVcpu>(*this, index, io);
  std::lock_guard lock(mu_);
  vcpus_.push_back(v.get());
  return v;
}

void TcgVm::forget_vcpu(TcgVcpu* v) {
  std::lock_guard lock(mu_);
  std::erase(vcpus_, v);
  if (loaded == v) loaded = nullptr;
  if (tlb_owner == v) tlb_owner = nullptr;
}

TcgVcpu* TcgVm::vcpu_by_apic(unsigned apic_id) {
  for (auto* v : vcpus_)
    if (v->index() == apic_id) return v;
  return nullptr;
}

bool TcgVm::platform_pio(uint16_t port, uint8_t* data, unsigned size, bool write) {
  bool pic = platform::Pic::owns(port), pit = platform::Pit::owns(port);
  if (!pic && !pit) return false;
  std::lock_guard lock(mu_);
  for (unsigned i = 0; i < size; ++i) {
    if (pic) {
      if (write) pic_->write(port, data[i]);
      else data[i] = pic_->read(port);
    } else {
      if (write) pit_->write(port, data[i]);
      else data[i] = pit_->read(port);
    }
  }
  return true;
}

void TcgVm::set_irq(uint32_t gsi, bool level) {
  std::lock_guard lock(mu_);
  if (ioapic_) ioapic_->set_irq(gsi, level);
  if (pic_ && gsi < 16) pic_->set_irq(gsi, level);
}

namespace {
// An edge on an IOAPIC pin: a raise and a lower.
class TcgIrqEdge : public IrqEdge {
 public:
  TcgIrqEdge(TcgVm& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}
  void trigger() override {
    vm_.set_irq(gsi_, true);
    vm_.set_irq(gsi_, false);
  }

 private:
  TcgVm& vm_;
  uint32_t gsi_;
};
}  // namespace

std::unique_ptr<IrqEdge> TcgVm::irq_edge(uint32_t gsi) { return std::make_unique<TcgIrqEdge>(*this, gsi); }

std::unique_ptr<DirtyLog> TcgVm::create_dirty_log() {
  if (!dirty_log_) return nullptr;
  return std::make_unique<StoreDirtyLogView>(
      tlb_log_ ? "tcg-tlb" : "tcg-store",
      [this](std::vector<uint64_t>& out, bool running) { return collect_dirty(out, running); });
}

// A TLB-fed log's harvest revokes the write rights the engine's TLB holds
// for the pages it returns: it takes the engine (the running vCPU leaves at
// its next block), harvests, and leaves the TLB to be flushed before any
// guest code runs again (the next turn's load). Holding the engine between
// the two means no store slips through a stale writable entry unlogged.
// While vCPUs run (precopy) it waits a little only: the holder may be
// blocked in a copy-on-write fault that the calling thread serves.
bool TcgVm::collect_dirty(std::vector<uint64_t>& out, bool running) {
  if (!tlb_log_) {
    dirty_log_->collect(out);
    return true;
  }
  if (on_engine_thread()) {  // the turn holder itself, between runs
    dirty_log_->collect(out);
    uc_ctl_flush_tlb(uc_);
    return true;
  }
  const int64_t patience = running ? 2'000'000 : INT64_MAX;
  if (!token_.acquire_asking(kHarvester, [this] { stop_engine_if_deterministic_point(); }, patience)) return false;
  dirty_log_->collect(out);
  tlb_owner = nullptr;  // whoever runs next flushes
  // In a pause the vCPUs are parked or held: waking one that waits for the
  // engine would only switch threads now. The pause's end wakes them. (Not
  // on a deterministic machine: its schedule hands the engine over itself.)
  if (running || det_) {
    token_.release(kHarvester);
  } else {
    token_.release_quietly();
  }
  return true;
}

// IOAPIC messages (platform lock held): physical destinations are APIC IDs
// (0xff: all); logical ones match the flat-model LDR bits.
void TcgVm::deliver(uint8_t dest, bool logical, uint8_t vector, bool level, uint8_t delivery_mode) {
  for (auto* v : vcpus_) {
    bool match = logical ? (v->lapic().read(0xd0) >> 24) & dest : (dest == 0xff || dest == v->index());
    if (!match) continue;
    if (delivery_mode == 4) continue;  // NMI: not modelled
    v->lapic().accept(vector, level);
    v->interrupt_posted();
    if (delivery_mode == 1 && !logical) break;  // lowest priority: the first match
  }
}

void TcgVm::send_ipi(unsigned from_apic, const platform::Ipi& ipi) {
  using S = platform::Ipi::Shorthand;
  using M = platform::Ipi::Mode;
  for (auto* v : vcpus_) {
    bool self = v->index() == from_apic;
    bool match = ipi.shorthand == S::self                 ? self
                 : ipi.shorthand == S::all_including_self ? true
                 : ipi.shorthand == S::all_excluding_self ? !self
                 : ipi.logical                            ? ((v->lapic().read(0xd0) >> 24) & ipi.dest) != 0
                                                          : (ipi.dest == 0xff || ipi.dest == v->index());
    if (!match) continue;
    switch (ipi.mode) {
      case M::fixed:
      case M::lowest:
        v->lapic().accept(ipi.vector, false);
        v->interrupt_posted();
        break;
      case M::init:
        if (ipi.level_assert) v->post_init();
        break;
      case M::sipi: v->post_sipi(ipi.vector); break;
      default: break;  // SMI, NMI: not modelled
    }
  }
}

void TcgVm::eoi_level(uint8_t vector) {
  if (ioapic_) ioapic_->eoi(vector);
}

// Set while the timer thread works under the platform lock: a stop it asks
// for then is asked once it has let go of the lock, or the stopped vCPU,
// which takes that lock at once, would wait for it (a futex wait and a wake,
// in the pause when the stop is for a checkpoint).
static thread_local bool* t_stop_after_unlock = nullptr;

void TcgVm::stop_engine() {
  if (t_stop_after_unlock) {
    *t_stop_after_unlock = true;
    return;
  }
  ask_engine_to_stop();
  if (async_stop_) wake_timer();  // which asks again while the stop is not taken
}

void TcgVm::ask_engine_to_stop() {
  stop_.store(true, std::memory_order_release);
  if (async_stop_) uc_emu_stop(uc_);  // the running engine leaves at its next block's start
}

void TcgVm::wake_timer() {
  timer_sleepers_.bump(timer_wake_);  // no system call while the timer thread is awake
}

// Fires the LAPIC timers when due, ends a vCPU's turn when another one
// waits for the engine, and asks again for a stop not yet taken.
void TcgVm::timer_loop() {
  pthread_setname_np(pthread_self(), "tcg-timer");
  prctl(PR_SET_TIMERSLACK, 1UL);  // deadlines (LAPIC timers, the epoch) to the microsecond, not the default 50 us late
  std::unique_lock lock(mu_);
  while (!timer_stop_) {
    bool stop = false;
    t_stop_after_unlock = &stop;
    uint64_t now = now_ns();
    uint64_t next = now + 50'000'000;
    for (auto* v : vcpus_) {
      if (v->lapic().timer_deadline() <= now) {
        v->lapic().tick();
        if (v->lapic().pending() >= 0) v->interrupt_posted();
      }
      next = std::min(next, v->lapic().timer_deadline());
    }
    if (nvcpus_ > 1) {
      // A turn lasts a slice from when it began, if another vCPU waits.
      uint64_t slice_end = turn_began_ns_.load(std::memory_order_relaxed) + kSliceNs;
      auto* v = current();
      if (v && token_.others_want(v->index()) && now >= slice_end) stop = true;
      next = std::min(next, v && now < slice_end ? slice_end : now + kSliceNs);
    }
    if (uint64_t due = epoch_due_ns_.load(std::memory_order_acquire); due && !det_) {
      if (now >= due) {
        end_turn_for_epoch();
        epoch_due_ns_.compare_exchange_strong(due, now + kEpochRetryNs);  // unless it was moved meanwhile
        due = epoch_due_ns_.load(std::memory_order_acquire);
      }
      next = std::min(next, due);
    }
    // A stop asked for (now or before) and not yet taken: asked again soon.
    if (async_stop_ && (stop || stop_.load(std::memory_order_acquire)) && current()) {
      stop = true;
      next = std::min(next, now + kStopRetryNs);
    }
    uint32_t seen = timer_wake_.load(std::memory_order_acquire);
    timer_wakes_at_ns_.store(next, std::memory_order_seq_cst);
    // A deadline arm_epoch set just now, before it could see the store above.
    uint64_t due = epoch_due_ns_.load(std::memory_order_seq_cst);
    const bool again = due && due < next && !det_;
    t_stop_after_unlock = nullptr;
    lock.unlock();
    if (stop) ask_engine_to_stop();
    if (!again) timer_sleepers_.wait(timer_wake_, seen, int64_t(next - std::min(next, now_ns())));
    lock.lock();
  }
}

bool TcgVm::arm_epoch(uint64_t due_ns) {
  if (det_) return false;  // its checkpoints come from the alarm, in guest time
  epoch_due_ns_.store(due_ns, std::memory_order_seq_cst);
  // The timer thread wakes in time by itself unless the deadline is sooner.
  if (due_ns && due_ns < timer_wakes_at_ns_.load(std::memory_order_seq_cst)) wake_timer();
  return true;
}

void TcgVm::end_turn_for_epoch() {
  if (auto* v = current()) {
    v->end_turn_to_lead();
    stop_engine();  // asked again by this thread while it is not taken
  } else if (auto* v0 = vcpu_by_apic(0)) {
    v0->kick();
  }
}

platform::PlatformState TcgVm::get_platform() {
  std::lock_guard lock(mu_);
  platform::PlatformState s;
  s.ioapic = ioapic_->save();
  s.pic = pic_->save();
  s.pit = pit_->save();
  s.clock.guest_ns = now_ns();
  if (det_) {
    s.clock.deterministic = 1;
    s.clock.blocks = det_->blocks();
    s.clock.turn = det_->turn();
    s.clock.quantum_left = det_->quantum_left();
  }
  return s;
}

void TcgVm::set_platform(const platform::PlatformState& s) {
  if (s.version != platform::PlatformState::kVersion)
    throw Error("platform state version " + std::to_string(s.version) + " is not supported");
  std::lock_guard lock(mu_);
  if (s.clock.version != platform::ClockState::kVersion)
    throw Error("clock state version " + std::to_string(s.clock.version) + " is not supported");
  if (det_) {
    // A state from a deterministic run goes on where it stood; any other starts a schedule at its clock.
    if (s.clock.deterministic) det_->restore(s.clock.guest_ns, s.clock.blocks, s.clock.turn, s.clock.quantum_left);
    else det_->restore(s.clock.guest_ns, 0, 0, 0);
  }
  ioapic_->restore(s.ioapic);
  pic_->restore(s.pic);
  pit_->restore(s.pit);
  if (det_) det_update_deadline_locked();
}

void TcgVm::make_deterministic(uint64_t seed, bool paced) {
  if (ioapic_) throw Error("make_deterministic: the platform exists already");
  det_ = std::make_unique<DetSchedule>(seed, paced, nvcpus_);
}

void TcgVm::set_alarm(uint64_t due_ns, std::function<void()> fn) {
  if (!det_) Vm::set_alarm(due_ns, std::move(fn));
  else det_->set_alarm(due_ns, std::move(fn));
}

void TcgVm::at_block(uint64_t block, std::function<void()> fn, uint64_t not_before_ns) {
  if (!det_) return Vm::at_block(block, std::move(fn), not_before_ns);
  det_->at_block(block, std::move(fn), not_before_ns);
  stop_engine_if_deterministic_point();  // the running vCPU takes it into account at its next block (or service point)
  token_.wake_waiters();
}

void TcgVm::post_external(std::function<void(uint64_t)> fn) {
  if (!det_) return fn(0);
  det_->post_external(std::move(fn));
  stop_engine_if_deterministic_point();
  token_.wake_waiters();
}

void TcgVm::det_fire_timers() {
  std::lock_guard lock(mu_);
  uint64_t now = now_ns();
  for (auto* v : vcpus_) {
    if (v->lapic().timer_deadline() <= now) {
      v->lapic().tick();
      if (v->lapic().pending() >= 0) v->interrupt_posted();
    }
  }
  det_update_deadline_locked();
}

void TcgVm::det_update_deadline_locked() {
  uint64_t next = DetSchedule::kNever;
  for (auto* v : vcpus_) next = std::min(next, v->lapic().timer_deadline());
  det_->set_timer_deadline(next);
}

void TcgVm::power_lost(uint8_t* ram, uint64_t bytes) {
  g_scratch_pages = 0;
  g_lost_bytes = bytes;
  g_lost_ram = ram;
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa{};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_old_segv);
  });
  stop_engine();
}

bool TcgVm::ram_pages_replaced() const { return g_scratch_pages.load() != 0; }

}  // namespace hsls::accel::tcg
