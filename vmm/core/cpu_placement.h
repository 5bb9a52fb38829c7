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
  // Whether two vCPUs are pinned to one CPU.
  bool vcpus_share_a_cpu() const;
  bool active() const { return !vcpu.empty(); }
  // "vCPU 0 on CPU 1; other threads on CPU 0", for the log.
  std::string describe() const;
};

// Restricts the calling thread to `cpus`; false if the kernel refused.
bool pin_this_thread(const std::vector<int>& cpus);

}  // namespace hsls
