// The machine's power failures (now, at a crash point, at a block, after a
// delay) and the user's inputs that a deterministic machine records in its
// input log and replays at the same point of its schedule (machine.h).
#include "vmm/machine.h"

#include <sys/mman.h>

#include "vmm/core/log.h"

namespace hsls {

// The power fails now: nothing more reaches NVM, no vCPU runs guest code
// again, held frames are dropped; with `restart`, power returns afterwards.
void Machine::power_fail(const std::string& why, bool restart) {
  if (restart) restart_ = true;
  // No vCPU may re-enter the guest after the failure (e.g. once a checkpoint
  // whose writes were dropped releases it): stop first, then lose power.
  bool first = !power_failed_.exchange(true);
  if (net_) net_->power_off();  // held frames die with the VMM's memory; nothing more leaves
  if (first) request_stop(StopReason::powerfail, kExitPowerFail, "power failure: " + why);
  store_->persist().lose_power();  // the instant of the failure: nothing more reaches NVM
  if (!first) return;
  log::get("vmm")->warn("power failure: {}", why);
  emit({{"event", "powerfail"}, {"reason", why}, {"restart", restart}, {"committed_version", ckpt_ ? ckpt_->committed() : 0}});
  // Make guest memory read-only, then wake every blocked copy-on-write
  // fault: a vCPU that retries its write now fails out of the guest (KVM:
  // EFAULT; tcg: its store lands in scratch memory, vm_->power_lost()), so
  // no guest store reaches NVM after this instant. (A fault left blocked
  // can keep a vCPU from ever leaving the guest.)
  vm_->power_lost(store_->ram(), cfg_.memory_bytes);
  if (::mprotect(store_->ram(), cfg_.memory_bytes, PROT_READ) != 0)
    log::get("vmm")->warn("power failure: cannot make guest memory read-only");
  if (ckpt_) ckpt_->release_faults();
}

// An armed crash point was reached: the power fails there.
void Machine::on_crash_point(nvm::CrashPoint p, bool restart) {
  power_fail(std::string("at crash point ") + nvm::crash_point_name(p), restart);
  throw nvm::PowerFailure{p};
}

// The power fails at the nth pass through a crash point.
void Machine::arm_power_fail(nvm::CrashPoint point, uint64_t nth, bool restart) {
  store_->persist().arm(point, nth, [this, restart](nvm::CrashPoint p) { on_crash_point(p, restart); });
}

// The power fails as the software CPU reaches a block (deterministic).
void Machine::power_fail_at_block(uint64_t block, bool restart) {
  vm_->at_block(block, [this, block, restart] { power_fail("at block " + std::to_string(block), restart); });
}

// The machine quits as the software CPU reaches a block (deterministic).
void Machine::stop_at_block(uint64_t block) {
  vm_->at_block(block, [this, block] { request_stop(StopReason::quit, 0, "stopped at block " + std::to_string(block)); });
}

// The monitor's `powerfail`: at the next point the vCPUs can take it, recorded for replay.
void Machine::power_fail_external(bool restart) {
  vm_->post_external([this, restart](uint64_t block) {
    record_input("powerfail", restart ? "restart" : "halt");
    power_fail("from the monitor, at block " + std::to_string(block) + " (replay: powerfail at-block=" + std::to_string(block) + ")",
               restart);
  });
}

// Input typed to the serial console; on a deterministic machine queued at
// a point of its schedule (and recorded), so a replay sees it there too.
size_t Machine::type_serial(const std::string& bytes) {
  if (!vm_->deterministic()) return serial_->push_input(bytes);
  vm_->post_external([this, bytes](uint64_t block) {
    record_input("serial", bytes);
    size_t queued = serial_->push_input(bytes);
    log::get("vmm")->info("deterministic: serial input of {} bytes ({} queued) at block {} guest_ns {}", bytes.size(), queued, block,
                          vm_->guest_time_ns());
  });
  return bytes.size();
}

// On the vCPU thread, at the point of the schedule the input is applied at.
void Machine::record_input(const std::string& kind, const std::string& data) {
  if (!input_log_) return;
  input_log_->append({power_on_, vm_->blocks_executed(), vm_->guest_time_ns(), kind, data});
}

// Schedules the inputs the log recorded for this power-on at their blocks.
void Machine::replay_inputs(const std::vector<InputLog::Entry>& entries) {
  unsigned n = 0;
  for (const auto& e : entries) {
    if (e.power_on != power_on_) continue;
    ++n;
    if (e.kind == "serial") {
      vm_->at_block(e.block, [this, e] {
        record_input("serial", e.data);
        serial_->push_input(e.data);
        log::get("vmm")->debug("deterministic: replayed serial input at block {} guest_ns {} (recorded at {} {})",
                               vm_->blocks_executed(), vm_->guest_time_ns(), e.block, e.guest_ns);
      }, e.guest_ns);
    } else {
      bool restart = e.data == "restart";
      vm_->at_block(e.block, [this, e, restart] {
        record_input("powerfail", e.data);
        power_fail("replayed from the input log, at block " + std::to_string(e.block), restart);
      }, e.guest_ns);
    }
  }
  if (n) log::get("vmm")->info("deterministic: {} input(s) of power-on {} to replay", n, power_on_);
}

// The power fails after `ms`: of guest work on a deterministic machine, of
// host time (a timer thread) otherwise.
void Machine::power_fail_after(double ms, bool restart) {
  if (vm_->deterministic()) {
    // In guest work: blocks from now (the count read here is where the monitor found it).
    uint64_t block = vm_->blocks_executed() + uint64_t(ms * 1e6) / accel::kDeterministicNsPerBlock + 1;
    log::get("vmm")->info("deterministic: power fails at block {}", block);
    return power_fail_at_block(block, restart);
  }
  std::lock_guard lock(power_timer_mu_);
  if (power_timer_.joinable()) return;
  power_timer_ = std::thread([this, ms, restart] {
    std::unique_lock lock(power_timer_mu_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(int64_t(ms * 1000));
    if (!power_timer_cv_.wait_until(lock, deadline, [&] { return stop_requested_.load(); }))
      power_fail("after " + std::to_string(ms) + " ms", restart);
  });
}

}  // namespace hsls
