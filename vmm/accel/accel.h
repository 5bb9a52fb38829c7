// The one accelerator interface (after Cloud Hypervisor's and crosvm's
// `hypervisor` crates and QEMU's accel/): a VM object (RAM, interrupt
// controller, dirty log, VM-wide state) and vCPU objects that run until an
// exit the machine dispatches. Two backends implement it, each in a folder
// of its own: kvm/ (the kernel's KVM) and tcg/ (a software CPU, Unicorn).
// Nothing above this interface names a backend; create_vm() is the only
// place that knows both.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vmm/accel/cpu_state.h"
#include "vmm/accel/dirty_log.h"
#include "vmm/core/guest_memory.h"
#include "vmm/devices/device.h"
#include "vmm/platform/platform_state.h"

namespace hsls::accel {

// Why Vcpu::run() returned.
struct Exit {
  enum class Kind {
    io,           // port I/O the machine must answer (KVM); data in `data`
    mmio,         // MMIO the machine must answer (KVM)
    halt,         // the vCPU halted (run again: the backend waits for an interrupt)
    interrupted,  // kicked, or the backend's time slice ended: check for pauses and run again
    dirty_full,   // the dirty log needs harvesting before the vCPU can go on
    reset,        // the guest asked for a reset
    poweroff,     // the guest shut the machine down (a system event)
    failed,       // something the VM cannot go on from (triple fault, bad exit): `reason`
  };
  Kind kind = Kind::interrupted;
  // io / mmio
  uint64_t addr = 0;
  uint32_t size = 0;
  uint32_t count = 1;  // string port I/O: repetitions, `size` bytes apart in `data`
  bool write = false;
  uint8_t* data = nullptr;
  // failed
  std::string reason;
};

// Answers the guest's port and MMIO accesses (the machine's buses). A
// backend that handles accesses inside run() (tcg) calls it directly; one
// that exits for them (kvm) returns Exit::io / Exit::mmio and the machine
// calls it. Returns false if nothing owns the address.
class IoHandler {
 public:
  virtual ~IoHandler() = default;
  virtual bool pio(uint16_t port, uint8_t* data, unsigned size, bool write) = 0;
  virtual bool mmio(uint64_t addr, uint8_t* data, unsigned size, bool write) = 0;
};

// One virtual CPU. run(), complete_pending_io() and the state calls happen
// on the vCPU's own thread or while it is parked; kick() from any thread.
class Vcpu {
 public:
  virtual ~Vcpu() = default;
  virtual unsigned index() const = 0;

  // Called on the vCPU's thread before its first run() / as it ends.
  virtual void thread_started() = 0;
  virtual void thread_ended() = 0;
  // Runs the guest until an exit.
  virtual Exit run() = 0;
  // Makes run() return Exit::interrupted soon (any thread; never lost).
  virtual void kick() = 0;
  // The kick signal arrived on this vCPU's own thread (the epoch timer's
  // way in): the same as kick(), async-signal-safe.
  virtual void kicked_by_signal() = 0;
  // Holds the vCPU where it is if it is idle now (its thread asleep, not
  // running guest code, its state at rest): it cannot run again until
  // release_hold(), and its state may be read from another thread
  // meanwhile, as if it were parked. So a checkpoint need not wake an idle
  // vCPU's thread to stop it (a thread wake-up on the other CPU costs
  // 50-300 us on a PVM guest). False if it is not idle; then kick() it. A
  // backend that cannot tell says false.
  virtual bool hold_if_idle() { return false; }
  // Lets a vCPU held by hold_if_idle() go on.
  virtual void release_hold() {}
  // Finishes an I/O access whose exit was just handled (an IN's data must
  // reach RAX before the state is saved). On the vCPU's thread.
  virtual void complete_pending_io() = 0;

  // The backend-neutral state; only while parked, or on the vCPU's thread.
  virtual CpuState get_state() = 0;
  virtual void set_state(const CpuState& s) = 0;
  virtual platform::LapicState get_lapic() = 0;
  virtual void set_lapic(const platform::LapicState& s) = 0;
};

// How the VM is to track dirty pages (the checkpointer asks before any vCPU exists).
struct DirtyLogRequest {
  bool enabled = false;
  std::string kind = "auto";  // "auto" | "ring" | "bitmap" (KVM's two forms) | "tlb" | "store" (tcg's two)
  bool want_untrack = false;  // hot leases: pages may be left untracked
};

// A deterministic machine's guest time per block executed (det_schedule.h).
constexpr uint64_t kDeterministicNsPerBlock = 10;

class Vm {
 public:
  virtual ~Vm() = default;
  // "kvm" or "tcg".
  virtual std::string name() const = 0;

  // Maps guest RAM (every range of `mem`), with dirty tracking if asked.
  // Before any vCPU is created.
  virtual void map_ram(GuestMemory& mem, const DirtyLogRequest& dirty) = 0;
  // Creates the interrupt controllers and the PIT.
  virtual void create_platform() = 0;
  // Creates vCPU `index`; accesses it cannot handle itself go to `io`.
  virtual std::unique_ptr<Vcpu> create_vcpu(unsigned index, IoHandler& io) = 0;

  // Drives interrupt line `gsi` (level; an edge is a raise then a lower).
  virtual void set_irq(uint32_t gsi, bool level) = 0;
  // An edge-triggered interrupt source on `gsi`, as fast as the backend can
  // make it (KVM: an irqfd); any thread.
  virtual std::unique_ptr<IrqEdge> irq_edge(uint32_t gsi) = 0;
  // Lets a guest write of `value` (4 bytes) at `addr` signal `event_fd`
  // without an exit, if the backend can; false if not (the write is then an
  // ordinary MMIO access).
  virtual bool bind_mmio_event(uint64_t addr, uint32_t value, int event_fd) = 0;

  // The dirty log asked for in map_ram(); null if none. Created once the vCPUs exist.
  virtual std::unique_ptr<DirtyLog> create_dirty_log() = 0;
  // Whether every guest store to RAM asks GuestMemory's write guard first
  // (vmm/core/write_guard.h): at least the first store to each page after
  // a dirty-log harvest, so that guards set at a checkpoint's pause are
  // never passed. Copy-on-write then needs no kernel write protection.
  virtual bool stores_ask_write_guard() const { return false; }

  // The power fails: guest memory [ram, ram+bytes) is about to become
  // read-only and no guest store may reach it any more; the backend makes
  // sure a store that still comes does not crash the VMM.
  virtual void power_lost(uint8_t* /*ram*/, uint64_t /*bytes*/) {}
  // After power_lost: whether a store since then replaced pages of guest
  // memory's mapping with scratch memory (that mapping no longer shows the file).
  virtual bool ram_pages_replaced() const { return false; }

  // The machine's clock in nanoseconds, as the guest's clock device reads
  // it (vmm/devices/guest_clock.h): virtual (guest work executed) on a
  // deterministic machine, else the host's monotonic clock.
  virtual uint64_t guest_time_ns() const;

  // --- the deterministic machine (issue 16; the software CPU only) ---
  // Makes guest time virtual (it advances with guest work executed) and the
  // vCPUs' interleaving fixed, from `seed`; `paced`: guest time never runs
  // ahead of the host's. Before the platform and the vCPUs are created.
  // Backends that cannot: a one-line Error.
  virtual void make_deterministic(uint64_t seed, bool paced);
  virtual bool deterministic() const { return false; }
  // Deterministic: `fn` runs on a vCPU thread when guest time reaches
  // `due_ns`, while no guest code runs and no vCPU holds the CPU (it may
  // read and write every vCPU's state); replaces the previous alarm.
  virtual void set_alarm(uint64_t due_ns, std::function<void()> fn);
  // Deterministic: `fn` runs likewise once `block` blocks have executed
  // since boot and guest time is at least `not_before_ns`.
  virtual void at_block(uint64_t block, std::function<void()> fn, uint64_t not_before_ns = 0);
  // Input from outside (any thread): on a deterministic machine `fn` runs
  // at the next point the schedule allows, with the block count it runs at
  // (to log it for a replay); otherwise at once, with 0.
  virtual void post_external(std::function<void(uint64_t block)> fn) { fn(0); }
  // Deterministic: blocks executed since boot (0 otherwise).
  virtual uint64_t blocks_executed() const { return 0; }

  // The epoch's deadline, if the backend keeps it itself (false: it does
  // not; the checkpointer then signals vCPU 0's thread, which leads). From
  // `due_ns` on, the vCPU running guest code ends its turn and leads the
  // checkpoint, or vCPU 0 does if none runs; asked again every millisecond
  // until the next call moves the deadline. 0 disarms. Any thread.
  // Where vCPUs take turns on one CPU this wakes no thread that sleeps: the
  // leader holds the others where they are.
  virtual bool arm_epoch(uint64_t /*due_ns*/) { return false; }

  // The VM-wide interrupt/timer platform state; only while every vCPU is parked.
  virtual platform::PlatformState get_platform() = 0;
  virtual void set_platform(const platform::PlatformState& s) = 0;
};

// The report line for an access nothing owns ("unowned I/O port write at 0x80 size 1").
std::string unowned_access(bool pio, uint64_t addr, unsigned size, bool write);

// Which accelerator `name` ("auto", "kvm", "tcg") means on this host; for
// "auto": tcg for a `deterministic` machine (it counts blocks), else kvm
// when /dev/kvm opens and has what we need, else tcg. `why` says why
// (logged at start).
std::string resolve(const std::string& name, bool deterministic, std::string& why);
// Whether the vCPUs of a VM on accelerator `name` run guest code one at a
// time (then one host CPU serves them all).
bool vcpus_take_turns(const std::string& name);
// Creates a VM on the accelerator `name` ("kvm" or "tcg"). Throws Error
// with one line (e.g. no /dev/kvm for kvm).
std::unique_ptr<Vm> create_vm(const std::string& name, unsigned vcpus);

}  // namespace hsls::accel
