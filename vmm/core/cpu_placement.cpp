#include "vmm/core/cpu_placement.h"

#include <sched.h>

namespace hsls {

CpuPlacement CpuPlacement::plan(unsigned vcpus, bool enabled, bool in_turn) {
  return enabled ? plan(vcpus, enabled, in_turn, usable_cpus()) : CpuPlacement{};
}

CpuPlacement CpuPlacement::plan(unsigned vcpus, bool enabled, bool in_turn, const std::vector<int>& usable) {
  CpuPlacement p;
  if (!enabled) return p;
  if (in_turn && vcpus > 0 && usable.size() >= 2) {
    p.vcpu.assign(vcpus, usable.back());
    p.others.assign(usable.begin(), usable.end() - 1);
    return p;
  }
  if (usable.size() <= vcpus) return p;
  // vCPUs take the highest CPUs (CPU 0 tends to get the host's interrupts).
  for (unsigned i = 0; i < vcpus; ++i) p.vcpu.push_back(usable[usable.size() - 1 - i]);
  p.others.assign(usable.begin(), usable.end() - vcpus);
  return p;
}

bool CpuPlacement::vcpus_share_a_cpu() const {
  for (size_t i = 0; i < vcpu.size(); ++i)
    for (size_t j = i + 1; j < vcpu.size(); ++j)
      if (vcpu[i] == vcpu[j]) return true;
  return false;
}

std::string CpuPlacement::describe() const {
  auto list = [](const std::vector<int>& cpus) {
    std::string s;
    for (int c : cpus) s += (s.empty() ? "" : ",") + std::to_string(c);
    return s;
  };
  std::string s;
  for (size_t i = 0; i < vcpu.size(); ++i)
    s += (s.empty() ? "" : ", ") + ("vCPU " + std::to_string(i) + " on CPU " + std::to_string(vcpu[i]));
  return s + "; other threads on CPU " + list(others);
}

std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> usable;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return usable;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) usable.push_back(cpu);
  return usable;
}

StartCpu StartCpu::take() {
  StartCpu s;
  s.usable_ = usable_cpus();
  s.moved_ = s.usable_.size() >= 2 && pin_this_thread({s.usable_.front()});
  return s;
}

void StartCpu::restore() const {
  if (moved_) pin_this_thread(usable_);
}

bool pin_this_thread(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  return !cpus.empty() && sched_setaffinity(0, sizeof set, &set) == 0;
}

}  // namespace hsls
