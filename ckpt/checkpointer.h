// The checkpoint manager. Every interval a vCPU's thread leads a
// stop-the-world checkpoint (vCPU 0's, or on a VM that keeps the epoch's
// deadline the one running guest code: Vm::arm_epoch): it holds idle vCPUs
// where they sleep and kicks the others out of the guest (each saves its own
// state and parks, spinning, ready to help), saves the VM and
// device state, reads the dirty log, copies the policy's pages to their
// backups and write-protects the rest for copy-on-write (side by side,
// shared with the parked vCPUs or the pause copier process: pause_work.h,
// pause_copier.h), and commits by persisting the new global version. A
// fault thread serves copy-on-write.
//
// Version rule: with committed version G, a page with a backup (of its two
// slots) that carries tag G was (or may have been) written after checkpoint
// G, and that backup holds its checkpointed content; every other page is
// unchanged since G. Recovery (recovery.h) restores exactly that. A page's
// backup for the next checkpoint never goes to the slot holding G's
// (backup_slot), and a backup whose page the guest has not written since
// its checkpoint may simply be tagged again (hybrid's hot pages).
// checkpointer.cpp: the timer, the pause and the commit, settings and
// statistics; checkpointer_pages.cpp: the pages the pause copies and
// protects, precopies, and the copy-on-write fault thread.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckpt/hot_lease.h"
#include "ckpt/machine_view.h"
#include "ckpt/hotness.h"
#include "ckpt/page_sorter.h"
#include "ckpt/oracle.h"
#include "ckpt/pause_copier.h"
#include "ckpt/pause_work.h"
#include "ckpt/policy.h"
#include "ckpt/precopy_pacer.h"
#include "ckpt/state.h"
#include "ckpt/stats.h"
#include "ckpt/page_protection.h"
#include "ckpt/zeroed_vector.h"
#include "nvm/store.h"
#include "vmm/core/fd.h"

namespace hsls::ckpt {

// Nanoseconds on the monotonic clock.
uint64_t now_ns();

struct Settings {
  double interval_ms = 10;
  Policy policy = Policy::stop_and_copy;
  PolicyTuning tuning;
  bool verify = false;
  bool copier = false;            // 1 vCPU and a spare CPU: a forked process shares the pause's copying
  bool write_guard = false;       // copy-on-write through guest memory's write guard, not userfaultfd
                                  // (needs accel::Vm::stores_ask_write_guard)
  bool vcpus_share_cpu = false;   // vCPU threads pinned to one CPU: the pause's waits sleep at once, never spin
  std::string commit_log;         // appends a line per commit (version, block count, guest time, digests)
};

class Checkpointer {
 public:
  // `committed` is the version in force (0 on a fresh boot); `recovered`
  // says the RAM was just restored from it (so every page starts protected).
  Checkpointer(MachineView& machine, nvm::Store& store, const Settings& settings, uint64_t committed, bool recovered,
               DigestOracle* oracle);
  ~Checkpointer();

  // Starts the fault thread (call before the vCPUs run).
  void start();
  // Stops the fault thread and the epoch timer.
  void stop();

  // --- vCPU thread hooks (Machine::vcpu_checkpoint) ---
  bool stw_active() const { return stw_active_.load(std::memory_order_acquire); }
  // Called on vCPU 0's thread before it first runs: arms the epoch timer
  // (the VM's own, or a signal to this thread).
  void leader_started();
  // Whether vCPU `index` leads a checkpoint that is due: vCPU 0, or any
  // vCPU when the VM keeps the epoch's deadline (it stops the running one).
  bool may_lead(unsigned index) const { return index == 0 || vm_epoch_.load(std::memory_order_relaxed); }
  // True when a checkpoint is due.
  // (Never on a deterministic machine: the VM's alarm starts checkpoints there.)
  bool due() const { return !deterministic_ && now_ns() >= next_due_ns_.load(std::memory_order_relaxed); }
  void lead(accel::Vcpu& self);
  void follow(accel::Vcpu& self);

  // Takes a checkpoint now; every vCPU must already be parked. Returns its version.
  uint64_t checkpoint_parked();

  // A vCPU stopped because its dirty log is full (its thread).
  void dirty_log_full();

  // After a power failure: wakes every thread blocked on a write fault.
  void release_faults();

  uint64_t committed() const { return committed_.load(); }
  void set_interval(double ms);
  void set_policy(Policy p);
  Settings settings() const;
  nlohmann::json info(std::optional<uint64_t> since = std::nullopt) const;
  const StatsRing& stats() const { return stats_; }

 private:
  void arm_timer(uint64_t due_ns, double ms);
  // The clock epochs are planned on: the guest's on a deterministic machine, else the host's.
  uint64_t epoch_now() const;
  void arm_alarm();
  void on_alarm();
  void fault_loop();
  // Backs `page` (and unprotected neighbours) up at its first write after
  // a checkpoint, tags the backups, unprotects them. False if the write
  // must not land (power lost). Any thread; takes mu_.
  bool copy_on_write(uint64_t page);
  // precopy: mid-epoch, copy the pages the last epoch wrote while the guest runs.
  void precopy();
  bool wants_hotness(const Settings& s) const;
  // The checkpoint proper, all vCPUs stopped and their states in the slot.
  void body(CheckpointStats& st, uint64_t t0);
  void choose_pages(const std::vector<uint64_t>& dirty, std::vector<uint64_t>& out) const;
  void plan_backups(uint64_t version);
  unsigned backup_slot(uint64_t page, uint64_t version) const;
  std::optional<unsigned> current_backup(uint64_t page, uint64_t version) const;
  void plan_protection(const std::vector<uint64_t>& keep, CheckpointStats& st);
  void finish_protection(const std::vector<uint64_t>& keep);
  void save_vcpu_state(accel::Vcpu& vcpu, uint64_t version);
  std::pair<uint64_t, uint64_t> write_machine_state(uint64_t version);

  MachineView& machine_;
  nvm::Store& store_;
  Settings settings_;
  Settings pause_settings_;  // settings() as the running checkpoint began (under mu_)
  mutable std::mutex settings_mu_;
  DigestOracle* oracle_;
  std::unique_ptr<accel::DirtyLog> dirty_log_;
  std::unique_ptr<PageProtection> protection_;
  HotnessTracker hotness_;
  HotLease lease_;
  StatsRing stats_;

  std::mutex mu_;                          // one checkpoint or fault at a time
  std::atomic<uint64_t> committed_;
  bool protect_all_ = true;                // nothing is protected yet
  ZeroedVector<uint8_t> writable_;         // per page: not write-protected
  std::vector<uint64_t> writable_list_;    // the same, as a list
  std::vector<uint64_t> dirty_, chosen_;   // scratch, reused: the pause allocates nothing it can avoid
  std::vector<uint64_t> late_, to_protect_;           // scratch, reused
  std::vector<uint64_t> to_tag_, to_copy_;            // the pause's backups (by number): all, and those it copies
  uint64_t retagged_ = 0;                             // of to_tag_: hybrid's, only re-tagged
  std::vector<unsigned> held_list_;                    // the vCPUs a pause holds (HeldVcpus)
  PageSorter page_sorter_;
  std::vector<uint64_t> copied_;           // copy_on_write's scratch (under mu_)
  std::vector<uint64_t> early_dirty_;      // precopy: pages the epoch wrote before the precopy
  std::vector<uint64_t> precopied_;        // precopy: pages copied ahead of the pause (sorted)
  std::atomic<uint64_t> precopy_due_ns_{0};
  std::atomic<uint64_t> precopies_declined_{0};  // the dirty log could not harvest mid-epoch
  std::atomic<uint64_t> precopies_{0};           // taken (harvested and copied)
  PrecopyPacer precopy_pacer_;                   // under mu_ (its counters: any thread)
  uint64_t epoch_faults_ = 0, epoch_fault_ns_ = 0, epoch_fault_max_ns_ = 0;
  uint64_t nvm_bytes_mark_ = 0;
  std::vector<uint8_t> device_state_;      // scratch for the devices' saved state

  // Stop-the-world coordination (the leader: may_lead()).
  std::atomic<bool> stw_active_{false};
  std::atomic<uint64_t> stw_gen_{0};
  std::atomic<uint64_t> release_gen_{0};
  class HeldVcpus;
  // How long the leader spins for the other vCPUs before it sleeps: not at all if they share its CPU.
  uint64_t spin_ns() const;
  std::atomic<uint32_t> parked_{0};
  std::atomic<uint32_t> resumed_{0};
  std::atomic<uint64_t> last_resumed_ns_{0};  // when the last follower went back to the guest
  std::atomic<int> leader_cpu_{-1};  // the host CPU the leader ran on when the pause began
  // Work shared with the parked vCPU threads and the spare threads during the pause.
  std::unique_ptr<PauseWork> work_;
  std::vector<PauseWork::Range> protect_ranges_;  // planned for this pause
  std::vector<uint64_t> unprotect_;               // kept pages to unprotect once tagged

  std::atomic<uint64_t> next_due_ns_{0};
  timer_t timer_{};
  std::atomic<bool> vm_epoch_{false};  // the VM keeps the epoch's deadline (Vm::arm_epoch)
  std::atomic<bool> timer_armed_{false};  // the POSIX timer: set on vCPU 0's thread, read by the monitor's `set`
  Fd stop_fd_;
  Fd commit_log_;  // Settings::commit_log, if any
  void log_commit(uint64_t version, uint64_t state_sum);
  std::thread fault_thread_;
  // The pause copier (Settings::copier), if it runs.
  std::unique_ptr<PauseCopier> copier_;
  void plan_next(uint64_t due_ns, double interval_ms);
  const bool deterministic_;  // epochs in guest time, started by the VM's alarm
};

}  // namespace hsls::ckpt
