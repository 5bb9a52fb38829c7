// Thread placement: which CPUs the vCPU threads and the other threads get,
// from the CPUs the calling thread may use.
#include <doctest/doctest.h>
#include <sched.h>

#include "vmm/core/cpu_placement.h"

using hsls::CpuPlacement;

namespace {

// Runs `fn` with the calling thread restricted to `cpus`, then restores its set.
template <typename Fn>
bool with_cpus(const std::vector<int>& cpus, Fn fn) {
  cpu_set_t saved;
  if (sched_getaffinity(0, sizeof saved, &saved) != 0) return false;
  for (int c : cpus)
    if (!CPU_ISSET(c, &saved)) return false;
  if (!hsls::pin_this_thread(cpus)) return false;
  fn();
  sched_setaffinity(0, sizeof saved, &saved);
  return true;
}

// A case that could not use CPUs 0 and 1: only a host with fewer than two
// usable CPUs may leave it out, and it says so.
void case_not_run() {
  cpu_set_t mine;
  CPU_ZERO(&mine);
  sched_getaffinity(0, sizeof mine, &mine);
  WARN_MESSAGE(false, "cpu placement case not run: this host does not let the test use CPUs 0 and 1");
  CHECK_MESSAGE(CPU_COUNT(&mine) < 2, "CPUs 0 and 1 were refused although ", CPU_COUNT(&mine), " CPUs are usable");
}

}  // namespace

TEST_CASE("cpu placement: vCPUs take the highest usable CPUs, other threads the rest") {
  bool ran = with_cpus({0, 1}, [] {
    auto p = CpuPlacement::plan(1, true);
    REQUIRE(p.active());
    CHECK(p.vcpu == std::vector<int>{1});
    CHECK(p.others == std::vector<int>{0});
    CHECK(p.describe() == "vCPU 0 on CPU 1; other threads on CPU 0");
    // No CPU to spare, or switched off: nothing pinned.
    CHECK_FALSE(CpuPlacement::plan(2, true).active());
    CHECK_FALSE(CpuPlacement::plan(1, false).active());
  });
  if (!ran) case_not_run();
  bool single = with_cpus({0}, [] { CHECK_FALSE(CpuPlacement::plan(1, true).active()); });
  CHECK(single);
}

TEST_CASE("cpu placement: vCPUs that take turns share the highest CPU; the others get the rest") {
  bool ran = with_cpus({0, 1}, [] {
    auto p = CpuPlacement::plan(2, true, true);
    REQUIRE(p.active());
    CHECK(p.vcpu == std::vector<int>{1, 1});
    CHECK(p.others == std::vector<int>{0});
    CHECK(p.vcpus_share_a_cpu());
    CHECK(p.describe() == "vCPU 0 on CPU 1, vCPU 1 on CPU 1; other threads on CPU 0");
    CHECK_FALSE(CpuPlacement::plan(1, true, false).vcpus_share_a_cpu());
    CHECK_FALSE(CpuPlacement::plan(2, false, true).active());
  });
  if (!ran) case_not_run();
  // One CPU: nothing to gain; nothing pinned.
  bool single = with_cpus({0}, [] { CHECK_FALSE(CpuPlacement::plan(2, true, true).active()); });
  CHECK(single);
}

TEST_CASE("start cpu: the thread moves to its lowest usable CPU; plan and restore see every CPU it had") {
  bool ran = with_cpus({0, 1}, [] {
    auto start = hsls::StartCpu::take();
    CHECK(start.usable() == std::vector<int>{0, 1});
    CHECK(hsls::usable_cpus() == std::vector<int>{0});
    CHECK(sched_getcpu() == 0);
    // Planned from what it could use before the move: the same as unmoved.
    auto p = CpuPlacement::plan(1, true, false, start.usable());
    REQUIRE(p.active());
    CHECK(p.others == std::vector<int>{0});
    start.restore();
    CHECK(hsls::usable_cpus() == std::vector<int>{0, 1});
  });
  if (!ran) case_not_run();
  // One CPU: it stays; restore leaves it so.
  bool single = with_cpus({1}, [] {
    auto start = hsls::StartCpu::take();
    CHECK(start.usable() == std::vector<int>{1});
    start.restore();
    CHECK(hsls::usable_cpus() == std::vector<int>{1});
  });
  if (!single) case_not_run();
}
