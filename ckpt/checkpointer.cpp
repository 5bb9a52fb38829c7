#include "ckpt/checkpointer.h"

#include <sched.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "ckpt/guard_protection.h"
#include "ckpt/write_protect.h"
#include "vmm/accel/kick.h"
#include "vmm/core/clock.h"
#include "vmm/core/futex.h"
#include "vmm/core/error.h"
#include "vmm/core/log.h"

namespace hsls::ckpt {
namespace {

constexpr uint64_t kPage = 4096;

inline void cpu_relax() { __builtin_ia32_pause(); }

// How long the leader waits for the other vCPUs to stop or to go again: far
// beyond anything seen (microseconds), but bounded, so that a vCPU that
// never comes stops the machine with a line instead of hanging it.
constexpr uint64_t kVcpuWaitLimitNs = 10'000'000'000;
// A parked follower stops spinning and sleeps after this long (a pause is
// far shorter; a machine paused for long is not spun for).
constexpr uint64_t kFollowerSleepAfterNs = 5'000'000;
// The waits of a pause spin this long before they sleep, in slices of this
// long (so that a stopping machine is noticed).
constexpr uint64_t kSpinNs = 20'000, kSleepSliceNs = 200'000;

// Waits until `count` reaches `target` or `stopped()`; false once
// `limit_ns` passed first. Spins briefly, then sleeps on the word (whoever
// adds to it wakes it): the vCPU thread waited for may share this thread's
// CPU (pinned there on the software CPU, or put there by the kernel when
// nothing is pinned), and the kernel lets a spinning thread run on for
// milliseconds before a thread that has had more CPU time (a yield does not
// help either).
template <typename Stopped>
bool wait_for_count(const std::atomic<uint32_t>& count, uint32_t target, Stopped stopped, uint64_t limit_ns, uint64_t spin_ns) {
  const uint64_t t0 = monotonic_ns();
  for (unsigned n = 1;; ++n) {
    uint32_t seen = count.load(std::memory_order_acquire);
    if (seen >= target || stopped()) return true;
    if (n % 64 != 0 && spin_ns) {
      cpu_relax();
      continue;
    }
    uint64_t waited = monotonic_ns() - t0;
    if (waited > limit_ns) return false;
    if (waited >= spin_ns) futex_wait(count, seen, kSleepSliceNs);
  }
}

// Adds one to `count` and wakes its waiter.
void count_in(std::atomic<uint32_t>& count) {
  count.fetch_add(1, std::memory_order_acq_rel);
  futex_wake(count);
}

uint64_t unix_ns() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

}  // namespace

uint64_t now_ns() { return monotonic_ns(); }

Checkpointer::Checkpointer(MachineView& machine, nvm::Store& store, const Settings& settings, uint64_t committed,
                           bool recovered, DigestOracle* oracle)
    : machine_(machine),
      store_(store),
      settings_(settings),
      oracle_(oracle),
      hotness_(store.layout().pages, settings.tuning.history, settings.tuning.hot_threshold),
      lease_(store.layout().pages),
      committed_(committed),
      writable_(store.layout().pages),
      page_sorter_(store.layout().pages),
      deterministic_(machine.vm().deterministic()) {
  dirty_log_ = machine.vm().create_dirty_log();
  if (!dirty_log_) throw Error("checkpoints need a dirty log, and the " + machine.vm().name() + " VM has none");
  if (settings.write_guard)
    protection_ = std::make_unique<GuardProtection>(machine.memory(), store.layout().pages, [this](uint64_t page) {
      try {  // on the writer's thread, maybe inside the software CPU's C code: nothing may escape
        return copy_on_write(page);
      } catch (const std::exception& e) {
        log::get("ckpt")->error("copy-on-write failed: {}", e.what());
        machine_.fail(std::string("copy-on-write failed: ") + e.what());
        return false;
      }
    });
  else
    protection_ = std::make_unique<WriteProtect>(store.ram(), store.layout().memory_bytes);
  work_ = std::make_unique<PauseWork>(store, *protection_);
  stop_fd_ = Fd(::eventfd(0, EFD_CLOEXEC));
  if (!settings.commit_log.empty()) {
    commit_log_ = Fd(::open(settings.commit_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!commit_log_) throw Error(errno_text("opening the commit log " + settings.commit_log));
  }
  if (recovered) {
    // A new mapping: protecting it all is cheap, and every page is clean.
    protection_->protect(0, store.layout().pages);
    protect_all_ = false;
  }
  nvm_bytes_mark_ = store_.persist().bytes_written();
}

Checkpointer::~Checkpointer() { stop(); }

void Checkpointer::start() {
  if (deterministic_) {
    // Epochs in guest time, before any vCPU runs: the alarm starts them (on_alarm).
    double ms = settings().interval_ms;
    plan_next(epoch_now() + uint64_t(ms * 1e6), ms);
    arm_alarm();
  }
  // Forked first, while the fewest threads run: a host CPU no vCPU uses can share the copying.
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (settings_.copier && machine_.vcpu_count() == 1 && cpus > 1) {
    copier_ = PauseCopier::spawn(*work_);
    if (copier_) copier_->plan(next_due_ns_.load(), settings_.interval_ms);
  }
  fault_thread_ = std::thread([this] { fault_loop(); });
}

void Checkpointer::stop() {
  if (vm_epoch_) machine_.vm().arm_epoch(0);
  if (timer_armed_) {
    timer_delete(timer_);
    timer_armed_ = false;
  }
  if (fault_thread_.joinable()) {
    uint64_t one = 1;
    ssize_t ignored = ::write(stop_fd_.get(), &one, sizeof one);
    (void)ignored;
    fault_thread_.join();
  }
  copier_.reset();
}

// The next checkpoint's deadline, told to the copier too.
void Checkpointer::plan_next(uint64_t due_ns, double interval_ms) {
  next_due_ns_ = due_ns;
  if (copier_) copier_->plan(due_ns, interval_ms);
}

Settings Checkpointer::settings() const {
  std::lock_guard lock(settings_mu_);
  return settings_;
}

void Checkpointer::set_interval(double ms) {
  {
    std::lock_guard lock(settings_mu_);
    settings_.interval_ms = ms;
  }
  plan_next(now_ns() + uint64_t(ms * 1e6), ms);
  // Only re-armed here: creating the timer belongs to vCPU 0's thread (it is the signal's target).
  if (timer_armed_.load(std::memory_order_acquire) || vm_epoch_) arm_timer(next_due_ns_.load(), ms);
}

void Checkpointer::set_policy(Policy p) {
  std::lock_guard lock(settings_mu_);
  settings_.policy = p;
}

// The epoch's deadline: kept by the VM if it can (Vm::arm_epoch), else a
// POSIX timer signals vCPU 0's thread, which then leads a checkpoint: first
// at `due_ns` exactly (re-armed after every checkpoint, so the epoch starts
// when the last one began and no tick is lost to a phase skew), then every
// interval in case that signal found the thread outside the guest.
void Checkpointer::arm_timer(uint64_t due_ns, double ms) {
  if (vm_epoch_) {
    machine_.vm().arm_epoch(due_ns);
    return;
  }
  if (!timer_armed_ && machine_.vm().arm_epoch(due_ns)) {  // the first time: does the VM keep it?
    vm_epoch_ = true;
    return;
  }
  if (!timer_armed_) {
    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = accel::kKickSignal;
    sev._sigev_un._tid = gettid();
    if (timer_create(CLOCK_MONOTONIC, &sev, &timer_) != 0) throw Error(errno_text("timer_create (epoch timer)"));
    timer_armed_ = true;
  }
  uint64_t ns = uint64_t(ms * 1e6);
  itimerspec its{};
  its.it_interval.tv_sec = time_t(ns / 1'000'000'000);
  its.it_interval.tv_nsec = long(ns % 1'000'000'000);
  its.it_value.tv_sec = time_t(due_ns / 1'000'000'000);
  its.it_value.tv_nsec = long(due_ns % 1'000'000'000);
  timer_settime(timer_, TIMER_ABSTIME, &its, nullptr);
}

void Checkpointer::leader_started() {
  if (deterministic_) return;  // start() set the alarm
  double ms = settings().interval_ms;
  plan_next(now_ns() + uint64_t(ms * 1e6), ms);
  arm_timer(next_due_ns_.load(), ms);
}

// Saves a vCPU's state (CPU and LAPIC) into the state slot of `version`.
void Checkpointer::save_vcpu_state(accel::Vcpu& vcpu, uint64_t version) {
  VcpuState s{};  // every byte defined: this goes into the user's file
  s.cpu = vcpu.get_state();
  s.lapic = vcpu.get_lapic();
  store_.persist().write(store_.state_slot(unsigned(version % 2)) + StateLayout().vcpu(vcpu.index()), &s, sizeof s);
}

// The vCPUs a pause holds idle (Vcpu::hold_if_idle); each is let go at the
// release, or when the pause ends any other way.
class Checkpointer::HeldVcpus {
 public:
  // `list` is the caller's, reused from pause to pause (no allocation).
  HeldVcpus(MachineView& machine, std::vector<unsigned>& list) : machine_(machine), held_(list) { held_.clear(); }
  ~HeldVcpus() { release_all(); }
  HeldVcpus(const HeldVcpus&) = delete;
  HeldVcpus& operator=(const HeldVcpus&) = delete;
  bool hold(unsigned i) {
    if (!machine_.vcpu(i).hold_if_idle()) return false;
    held_.push_back(i);
    return true;
  }
  const std::vector<unsigned>& list() const { return held_; }
  void release_all() {
    for (unsigned i : held_) machine_.vcpu(i).release_hold();
    held_.clear();
  }

 private:
  MachineView& machine_;
  std::vector<unsigned>& held_;
};

void Checkpointer::lead(accel::Vcpu& self) {
  uint64_t t0 = now_ns();
  CheckpointStats st;
  unsigned others = machine_.vcpu_count() - 1;
  parked_.store(0);
  resumed_.store(0);
  uint64_t gen = stw_gen_.fetch_add(1) + 1;
  stw_active_.store(true, std::memory_order_release);
  // An idle vCPU is held where it sleeps and saved from here: waking its
  // thread only to park it would cost more than the whole pause. The others
  // are kicked and park themselves (follow()).
  leader_cpu_.store(sched_getcpu(), std::memory_order_relaxed);
  HeldVcpus held(machine_, held_list_);
  for (unsigned i = 0; i <= others; ++i)
    if (i != self.index() && !held.hold(i)) machine_.vcpu(i).kick();
  bool failed = false;
  try {
    save_vcpu_state(self, committed_.load() + 1);
    for (unsigned i : held.list()) save_vcpu_state(machine_.vcpu(i), committed_.load() + 1);
    parked_.fetch_add(unsigned(held.list().size()), std::memory_order_acq_rel);
    // A vCPU that sees the machine stopping leaves without parking: give up then.
    if (!wait_for_count(parked_, others, [&] { return machine_.stopped(); }, kVcpuWaitLimitNs, spin_ns()))
      throw Error(fmt::format("{} of {} other vCPU(s) did not stop for checkpoint {} within {} s", others - parked_.load(), others,
                              committed_.load() + 1, kVcpuWaitLimitNs / 1'000'000'000));
    if (machine_.stopped()) throw nvm::PowerFailure{nvm::CrashPoint::stopped};
    auto quiesced = machine_.quiesce_devices();  // after the followers parked: their pending I/O is done
    st.stop_ns = now_ns() - t0;
    st.leader = self.index();
    st.vcpus_held = unsigned(held.list().size());
    body(st, t0);
  } catch (const nvm::PowerFailure&) {
    failed = true;
  } catch (const std::exception& e) {
    log::get("ckpt")->error("checkpoint failed: {}", e.what());
    failed = true;
    machine_.fail(std::string("checkpoint failed: ") + e.what());
  }
  uint64_t t_release = now_ns();
  double interval_ms = settings().interval_ms;
  uint64_t interval_ns = uint64_t(interval_ms * 1e6);
  plan_next(t0 + interval_ns, interval_ms);  // before the release: the copier plans its next wake-up from it
  stw_active_.store(false, std::memory_order_release);
  release_gen_.store(gen, std::memory_order_release);
  release_gen_.notify_all();
  resumed_.fetch_add(unsigned(held.list().size()), std::memory_order_acq_rel);
  held.release_all();
  if (failed) return;
  if (!wait_for_count(resumed_, others, [&] { return machine_.stopped(); }, kVcpuWaitLimitNs, spin_ns())) {
    machine_.fail(fmt::format("{} of {} other vCPU(s) did not go on after checkpoint {} within {} s", others - resumed_.load(), others,
                              committed_.load(), kVcpuWaitLimitNs / 1'000'000'000));
    return;
  }
  // The guest runs again once the last vCPU went back to it, not when the
  // leader next gets its CPU (on a CPU the vCPUs share, a resumed vCPU may
  // run guest code for a whole time slice first).
  uint64_t t_end = others ? std::max(t_release, last_resumed_ns_.load(std::memory_order_acquire)) : now_ns();
  st.resume_ns = t_end - t_release;
  st.pause_ns = t_end - t0;
  stats_.add(st);
  machine_.devices_resumed();
  arm_timer(next_due_ns_.load(), settings().interval_ms);
  if (settings().policy == Policy::precopy) precopy_due_ns_ = t0 + interval_ns / 2;
}

uint64_t Checkpointer::spin_ns() const { return settings_.vcpus_share_cpu ? 0 : kSpinNs; }

void Checkpointer::follow(accel::Vcpu& self) {
  uint64_t gen = stw_gen_.load(std::memory_order_acquire);
  try {
    save_vcpu_state(self, committed_.load() + 1);
  } catch (const std::exception& e) {
    log::get("ckpt")->error("vCPU {} could not save its state: {}", self.index(), e.what());
  }
  count_in(parked_);
  // Help with the pause's work while waiting, unless this thread shares the
  // leader's CPU: then any spinning only delays the leader.
  const bool beside_leader = settings_.vcpus_share_cpu || sched_getcpu() == leader_cpu_.load(std::memory_order_relaxed);
  const uint64_t t0 = monotonic_ns();
  for (unsigned n = 1; release_gen_.load(std::memory_order_acquire) < gen; ++n) {
    if (!beside_leader) work_->help(gen, PauseWork::Role::vcpu);
    if (beside_leader || (n % 64 == 0 && monotonic_ns() - t0 > kFollowerSleepAfterNs)) {
      uint64_t seen = release_gen_.load();
      if (seen < gen) release_gen_.wait(seen);
    } else {
      cpu_relax();
    }
  }
  uint64_t back = now_ns();
  uint64_t latest = last_resumed_ns_.load(std::memory_order_relaxed);
  while (latest < back && !last_resumed_ns_.compare_exchange_weak(latest, back, std::memory_order_acq_rel)) {
  }
  count_in(resumed_);
}

// One line per commit: where in guest time it happened and what it holds
// (the memory digest needs --verify's oracle; 0 without it). Two runs of a
// deterministic machine with one seed give the same lines.
void Checkpointer::log_commit(uint64_t version, uint64_t state_sum) {
  auto& vm = machine_.vm();
  std::string line = fmt::format("commit {} block {} guest_ns {} memory {:016x} state {:016x}\n", version, vm.blocks_executed(),
                                 vm.guest_time_ns(), oracle_ ? oracle_->memory_digest() : 0, state_sum);
  ssize_t ignored = ::write(commit_log_.get(), line.data(), line.size());
  (void)ignored;
}

uint64_t Checkpointer::epoch_now() const { return deterministic_ ? machine_.vm().guest_time_ns() : now_ns(); }

// Deterministic machine: the next alarm in guest time, the checkpoint or,
// first, the precopy half-way through the epoch.
void Checkpointer::arm_alarm() {
  uint64_t due = next_due_ns_.load(), pre = precopy_due_ns_.load();
  if (pre && pre < due) due = pre;
  machine_.vm().set_alarm(due, [this] { on_alarm(); });
}

// Deterministic machine: guest time reached the alarm. No guest code runs
// and no vCPU holds the CPU, so this thread takes the checkpoint itself,
// at a point fixed in guest time (the pause's order of work is this
// thread's alone: crash points are reached in the same order every run).
void Checkpointer::on_alarm() {
  if (machine_.stopped() || store_.persist().power_lost()) return;
  uint64_t te = epoch_now();
  uint64_t pre = precopy_due_ns_.load();
  if (pre && te >= pre && te < next_due_ns_.load()) {
    precopy_due_ns_ = 0;
    precopy();
    arm_alarm();
    return;
  }
  try {
    checkpoint_parked();
  } catch (const nvm::PowerFailure&) {
    return;  // the machine is stopping
  } catch (const std::exception& e) {
    log::get("ckpt")->error("checkpoint failed: {}", e.what());
    machine_.fail(std::string("checkpoint failed: ") + e.what());
    return;
  }
  Settings s = settings();
  uint64_t interval_ns = uint64_t(s.interval_ms * 1e6);
  plan_next(te + interval_ns, s.interval_ms);
  if (s.policy == Policy::precopy) precopy_due_ns_ = te + interval_ns / 2;
  arm_alarm();
}

uint64_t Checkpointer::checkpoint_parked() {
  uint64_t t0 = now_ns();
  CheckpointStats st;
  uint64_t version = committed_.load() + 1;
  {
    auto quiesced = machine_.quiesce_devices();
    for (unsigned i = 0; i < machine_.vcpu_count(); ++i) save_vcpu_state(machine_.vcpu(i), version);
    st.stop_ns = now_ns() - t0;
    body(st, t0);
  }
  st.pause_ns = now_ns() - t0;
  stats_.add(st);
  machine_.devices_resumed();
  return committed_.load();
}

// Writes the VM and device state and the header into the slot; returns
// its checksum and size. The devices must be quiesced.
std::pair<uint64_t, uint64_t> Checkpointer::write_machine_state(uint64_t version) {
  auto& p = store_.persist();
  uint8_t* slot = store_.state_slot(unsigned(version % 2));
  unsigned n = machine_.vcpu_count();
  StateLayout sl;
  platform::PlatformState platform = machine_.vm().get_platform();
  p.write(slot + sl.platform(n), &platform, sizeof platform);
  SerialState serial = machine_.serial_state();
  p.write(slot + sl.serial(n), &serial, sizeof serial);
  device_state_.clear();
  machine_.save_devices(device_state_);
  uint64_t total = sl.total(n, device_state_.size());
  if (total > nvm::kStateSlotBytes) throw Error("machine state does not fit its NVM slot (" + std::to_string(total) + " bytes)");
  uint64_t device_bytes = device_state_.size();
  p.write(slot + sl.devices(n), &device_bytes, sizeof device_bytes);
  if (device_bytes) p.write(slot + sl.devices(n) + 8, device_state_.data(), device_bytes);
  MachineStateHeader h;
  h.set_accel(machine_.vm().name());
  h.vcpus = n;
  h.version_tag = version;
  h.total_bytes = total;
  p.write(slot, &h, sizeof h);
  p.persist(slot, total);
  return {bytes_digest(slot, total), total};
}

void Checkpointer::body(CheckpointStats& st, uint64_t t0) {
  std::lock_guard lock(mu_);
  pause_settings_ = settings();  // one policy for the whole checkpoint, whatever `set` does meanwhile
  auto& p = store_.persist();
  uint64_t version = committed_.load() + 1;
  st.version = version;
  st.unix_ns = unix_ns();
  p.point(nvm::CrashPoint::stopped);

  uint64_t t = now_ns();
  auto [state_sum, state_bytes] = write_machine_state(version);
  p.point(nvm::CrashPoint::state_saved);
  st.save_ns = now_ns() - t;

  t = now_ns();
  dirty_.clear();
  dirty_log_->collect(dirty_);  // written since the last fetch: the precopy's, if there was one
  machine_.collect_device_dirty(dirty_);  // the VMM's own writes (virtio buffers) bypass the accelerator's log
  page_sorter_.sort_unique(dirty_);  // the bitmap's log comes sorted, the software CPU's in the order written
  late_.clear();
  if (!precopied_.empty() || !early_dirty_.empty()) {
    late_.swap(dirty_);
    std::set_union(late_.begin(), late_.end(), early_dirty_.begin(), early_dirty_.end(), std::back_inserter(dirty_));
  }
  // Only hybrid and hot leases ask which pages are hot. The merge touches
  // every tracked page just after the guest evicted them from the caches
  // (~4 us for ~600 pages here), so the other policies skip it; a switch to
  // hybrid starts from an empty history.
  if (wants_hotness(pause_settings_)) {
    hotness_.record_epoch(dirty_);
  } else if (hotness_.tracked() || hotness_.recorded()) {
    hotness_.clear();
  }
  // Copy-on-write alone means every first write faults: no leases then.
  lease_.update(version, dirty_, hotness_, pause_settings_.policy == Policy::cow ? 0 : pause_settings_.tuning.hot_lease, *dirty_log_);
  st.pages_leased = lease_.leased();
  choose_pages(dirty_, chosen_);
  plan_backups(version);
  early_dirty_.clear();
  precopied_.clear();
  st.pages_dirty = dirty_.size();
  st.dirty_ns = now_ns() - t;

  // Copy the chosen pages and write-protect those that leave the writable
  // set, side by side: the leader copies while parked vCPUs protect, or,
  // with the copier process copying, protects first. Kept pages that were
  // protected are unprotected only once their backups are tagged.
  t = now_ns();
  plan_protection(chosen_, st);
  bool copier = copier_ && stw_active() && PauseCopier::acts_at(pause_settings_.interval_ms);
  work_->publish(stw_active() ? stw_gen_.load() : 0, protect_ranges_, to_copy_);
  struct Drain {  // a power failure thrown below must not leave helpers in the lists
    PauseWork& w;
    ~Drain() { w.drain(); }
  } drain{*work_};
  if (copier) work_->protect();
  work_->copy(copier ? std::function<bool()>([this] { return copier_->alive(); }) : std::function<bool()>());
  p.point(nvm::CrashPoint::backup_copied);
  for (uint64_t backup : to_tag_) {
    uint64_t* tag = store_.tag_by_number(backup);
    p.store64(tag, version);
    p.flush(tag, 8);
  }
  p.fence();
  p.point(nvm::CrashPoint::backup_tagged);
  st.pages_copied = to_copy_.size();
  st.pages_retagged = retagged_;
  st.copy_ns = now_ns() - t;

  t = now_ns();
  work_->finish();
  // Power lost meanwhile: the tags may not be durable, so no page may become writable.
  if (p.power_lost()) throw nvm::PowerFailure{nvm::CrashPoint::backup_tagged};
  finish_protection(chosen_);
  p.point(nvm::CrashPoint::protected_pages);
  st.protect_ns = now_ns() - t;

  if (p.adr()) {  // only flushed lines survive: write back what the guest dirtied
    t = now_ns();
    for (uint64_t page : dirty_) p.flush(store_.ram() + page * kPage, kPage);
    p.fence();
    st.flush_ns = now_ns() - t;
  }
  if (oracle_) {
    oracle_->update(dirty_);
    oracle_->record(version, state_sum);
  }

  t = now_ns();
  nvm::CheckpointRecord rec{};
  rec.version = version;
  rec.unix_ns = st.unix_ns;
  rec.state_offset = store_.layout().state[version % 2];
  rec.state_bytes = state_bytes;
  rec.state_checksum = state_sum;
  rec.pages_dirty = st.pages_dirty;
  rec.pages_copied = st.pages_copied;
  rec.pause_ns = now_ns() - t0;
  store_.journal().append(rec);
  store_.journal().commit(version);
  committed_.store(version);
  machine_.devices_committed(version);  // external synchrony: the epoch's frames may leave
  st.commit_ns = now_ns() - t;
  if (commit_log_) log_commit(version, state_sum);

  st.cow_faults = epoch_faults_;
  st.cow_fault_ns = epoch_fault_ns_;
  st.cow_fault_max_ns = epoch_fault_max_ns_;
  epoch_faults_ = epoch_fault_ns_ = epoch_fault_max_ns_ = 0;
  uint64_t bytes = p.bytes_written();
  st.nvm_bytes = bytes - nvm_bytes_mark_;
  nvm_bytes_mark_ = bytes;
}

// Settings and statistics: over the last 1000 checkpoints, or over every
// one after version `since`.
nlohmann::json Checkpointer::info(std::optional<uint64_t> since) const {
  auto s = settings();
  auto last = stats_.last(1);
  nlohmann::json out = {{"enabled", true},
                        {"interval_ms", s.interval_ms},
                        {"policy", policy_name(s.policy)},
                        {"hot_threshold", s.tuning.hot_threshold},
                        {"history", s.tuning.history},
                        {"neighbours", s.tuning.neighbours},
                        {"hot_lease", s.tuning.hot_lease},
                        {"persistence", store_.persist().adr() ? "adr" : "eadr"},
                        {"dirty_log", dirty_log_->name()},
                        {"write_protect", protection_->name()},
                        {"copier", copier_ && copier_->alive() ? nlohmann::json(copier_->pid()) : nlohmann::json(nullptr)},
                        {"verify", oracle_ != nullptr},
                        {"committed_version", committed_.load()},
                        {"checkpoints", stats_.total()},
                        {"summary", since ? stats_.summary_since(*since) : stats_.summary(1000)}};
  if (s.policy == Policy::precopy) {
    out["precopies"] = precopies_.load();
    out["precopies_declined"] = precopies_declined_.load();
    out["precopies_skipped"] = precopy_pacer_.skipped();  // they did not pay (precopy_pacer.h)
    out["precopy_backoff"] = precopy_pacer_.backoff();
  }
  if (!last.empty()) {
    out["last"] = StatsRing::to_json(last[0]);
    out["last_age_ms"] = double(unix_ns() - last[0].unix_ns) / 1e6;
  }
  return out;
}

}  // namespace hsls::ckpt
