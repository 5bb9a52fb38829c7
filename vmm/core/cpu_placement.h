// Where the VMM's threads run. With more usable host CPUs than vCPUs, each
// vCPU thread gets a CPU of its own and every other thread (monitor, I/O,
// copy-on-write faults) the remaining ones, so they neither share a CPU's
// cache nor wait for each other's time slices. Measured here with 1 vCPU
// (stop-and-copy, 10 ms): pause p50 141 -> 118 and 127 -> 110 us, p99
// 290 -> 183 us. With no CPU to spare nothing is pinned (2 vCPUs on this
// 2-CPU host: no change either way).
// vCPUs that take turns (the software CPU: one runs guest code at a time)
// share one CPU: a turn handed over is then a switch on that CPU, not a
// wake-up on another one, and the kernel cannot stack a spinning thread on
// the CPU of the vCPU it waits for (0.5-4 ms stops were measured unpinned).
#pragma once
#include <string>
#include <vector>

namespace hsls {

struct CpuPlacement {
  std::vector<int> vcpu;    // host CPU of vCPU i; empty: nothing is pinned
  std::vector<int> others;  // host CPUs for every other thread

  // Plans from the CPUs the calling thread may use (so taskset and cpusets
  // are respected). `enabled` false, or no CPU to spare: nothing pinned.
  // `in_turn`: the vCPUs run one at a time, and one CPU serves them all.
  static CpuPlacement plan(unsigned vcpus, bool enabled, bool in_turn = false);
  // The same from `usable` (ascending), the CPUs the threads may use.
  static CpuPlacement plan(unsigned vcpus, bool enabled, bool in_turn, const std::vector<int>& usable);
  // Whether two vCPUs are pinned to one CPU.
  bool vcpus_share_a_cpu() const;
  bool active() const { return !vcpu.empty(); }
  // "vCPU 0 on CPU 1; other threads on CPU 0", for the log.
  std::string describe() const;
};

// Restricts the calling thread to `cpus`; false if the kernel refused.
bool pin_this_thread(const std::vector<int>& cpus);

// The CPUs the calling thread may use (its affinity), ascending.
std::vector<int> usable_cpus();

// The main thread's CPU from the process's first instruction on: the lowest
// one it may use, which every placement gives to the threads that are not
// vCPUs. It moves there before it touches fresh memory, so that it is not
// migrated away from what it touched, and so that its first huge pages come
// from that CPU's free lists: a vmm that ran here before freed its memory
// there, and on a PVM guest a page the host still backs is cleared in
// ~0.1 ms per 2 MiB, a page it must back first in ~3 ms (docs/benchmarks.md,
// session 22). Where nothing gets placed, restore() gives back every CPU.
class StartCpu {
 public:
  // Records the CPUs the thread may use and moves it to the lowest (with two or more).
  static StartCpu take();
  const std::vector<int>& usable() const { return usable_; }
  // Lets the calling thread use every CPU it could use at take() again.
  void restore() const;

 private:
  std::vector<int> usable_;
  bool moved_ = false;
};

}  // namespace hsls
