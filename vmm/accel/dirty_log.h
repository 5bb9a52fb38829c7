// Which guest pages were written since the last look, as the accelerator
// tracks them (KVM: its dirty bitmap or dirty ring; tcg: the software CPU's
// store path). The checkpointer reads it once per epoch.
#pragma once
#include <cstdint>
#include <vector>

namespace hsls::accel {

class DirtyLog {
 public:
  virtual ~DirtyLog() = default;
  // What tracks the pages ("bitmap", "ring", ...), for info ckpt.
  virtual const char* name() const = 0;
  // Appends the page numbers (RAM page index, 0-based across slots) written
  // since the last call to `out` (possibly with repeats), and re-arms tracking for them.
  virtual void collect(std::vector<uint64_t>& out) = 0;
  // The same while vCPUs run (precopy, mid-epoch). May decline, taking
  // nothing (false), when it cannot be done now: the software CPU's
  // TLB-fed log must take the engine, whose holder may be blocked on a
  // copy-on-write fault that the caller's own thread serves.
  virtual bool collect_while_running(std::vector<uint64_t>& out) {
    collect(out);
    return true;
  }
  // A vCPU stopped because its dirty log is full (its thread): make room.
  virtual void drain_full() {}
  // Whether set_untracked() works (KVM's bitmap can leave pages out of the
  // re-arming; its ring cannot, as KVM re-arms its entries in order).
  virtual bool can_untrack() const { return false; }
  // Leaves `page` out of the re-arming from the next collect() on (or puts
  // it back): writing it costs the guest no tracking fault, and collect()
  // reports it every time, as if it were always written.
  virtual void set_untracked(uint64_t /*page*/, bool /*untracked*/) {}
};

}  // namespace hsls::accel
