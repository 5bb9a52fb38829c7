// The machine's pauses: a vCPU leading or following a checkpoint, and the
// monitor's pause (all vCPUs parked) that a checkpoint must not deadlock
// with (machine.h).
#include "vmm/machine.h"

namespace hsls {

// A vCPU leads a checkpoint only while no pause is asked for and no other
// vCPU leads one, and a pause
// is asked for only once no checkpoint is being led: otherwise a vCPU could
// park for the pause while the leader waits for it to follow (a deadlock
// the leader's bounded wait turned into a failed machine).
bool Machine::begin_lead() {
  std::lock_guard lock(mu_);
  if (pause_requested_ || leading_) return false;  // one leader at a time (any vCPU may lead on some VMs)
  leading_ = true;
  return true;
}

// Wakes only a pause() waiting for the lead to end: a notify with nobody
// waiting is still a system call, on the way back to the guest.
void Machine::end_lead() {
  bool waited;
  {
    std::lock_guard lock(mu_);
    leading_ = false;
    waited = lead_waiters_ != 0;
  }
  if (waited) cv_.notify_all();
}

// Parks every vCPU (nested: the machine runs again at the last resume());
// waits until they are parked or have exited.
void Machine::pause() {
  std::unique_lock lock(mu_);
  if (pause_depth_++ == 0) {
    ++lead_waiters_;
    cv_.wait(lock, [&] { return !leading_ || running_ == 0; });  // the checkpoint being led ends first
    --lead_waiters_;
    pause_requested_ = true;
    lock.unlock();
    kick_all();
    lock.lock();
  }
  cv_.wait(lock, [&] { return parked_ == vcpus_.size() || running_ == 0; });
}

// Ends one pause(); the last one lets the vCPUs go.
void Machine::resume() {
  std::unique_lock lock(mu_);
  if (pause_depth_ == 0) return;
  if (--pause_depth_ == 0) {
    pause_requested_ = false;
    cv_.notify_all();
  }
}

// Whether a pause() is in force.
bool Machine::paused() const {
  std::lock_guard lock(mu_);
  return pause_depth_ > 0;
}

// The monitor's `stop`: one pause, however often it is asked.
void Machine::user_pause() {
  std::lock_guard lock(user_pause_mu_);
  if (user_paused_) return;
  pause();
  user_paused_ = true;
  emit({{"event", "paused"}});
}

// The monitor's `cont`: ends the user's pause, if any.
void Machine::user_resume() {
  std::lock_guard lock(user_pause_mu_);
  if (!user_paused_) return;
  resume();
  user_paused_ = false;
  emit({{"event", "resumed"}});
}

// Makes every vCPU leave the guest soon (its run loop then looks at what is asked).
void Machine::kick_all() {
  for (auto& v : vcpus_) v->vcpu().kick();
}

// A vCPU between two runs: follows a checkpoint being led, leads one that
// is due, parks while a pause is asked for. False: the vCPU must stop.
bool Machine::vcpu_checkpoint(VcpuRunner& runner) {
  if (stop_requested_) return false;
  auto& vcpu = runner.vcpu();
  if (ckpt_) {
    if (ckpt_->stw_active()) {
      vcpu.complete_pending_io();
      ckpt_->follow(vcpu);
    } else if (ckpt_->may_lead(vcpu.index()) && ckpt_->due() && begin_lead()) {
      vcpu.complete_pending_io();
      ckpt_->lead(vcpu);
      end_lead();
    }
    if (stop_requested_) return false;
  }
  if (!pause_requested_) return true;
  vcpu.complete_pending_io();  // a paused machine may be checkpointed
  std::unique_lock lock(mu_);
  ++parked_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return !pause_requested_ || stop_requested_; });
  --parked_;
  return !stop_requested_;
}

}  // namespace hsls
