// The only place that knows both backends.
#include "vmm/accel/accel.h"

#include "vmm/accel/kvm/kvm_vm.h"
#include "vmm/accel/tcg/tcg_vm.h"
#include "vmm/core/clock.h"
#include "vmm/core/error.h"

#include <fmt/format.h>

namespace hsls::accel {

uint64_t Vm::guest_time_ns() const { return monotonic_ns(); }

void Vm::make_deterministic(uint64_t, bool) {
  throw Error("deterministic mode needs the software CPU (--accel tcg); " + name() + " cannot run deterministically");
}

void Vm::set_alarm(uint64_t, std::function<void()>) { throw Error("set_alarm: not a deterministic machine"); }

void Vm::at_block(uint64_t, std::function<void()>, uint64_t) { throw Error("at_block: not a deterministic machine"); }

std::string unowned_access(bool pio, uint64_t addr, unsigned size, bool write) {
  return fmt::format("unowned {} {} at {:#x} size {}", pio ? "I/O port" : "MMIO", write ? "write" : "read", addr, size);
}

std::string resolve(const std::string& name, bool deterministic, std::string& why) {
  if (name != "auto") {
    why = "as configured";
    return name;
  }
  if (deterministic) {
    why = "auto: the deterministic machine runs on the software CPU";
    return "tcg";
  }
  std::string missing;
  if (kvm::kvm_usable(missing)) {
    why = "auto: /dev/kvm is usable";
    return "kvm";
  }
  why = "auto: " + missing;
  return "tcg";
}

bool vcpus_take_turns(const std::string& name) { return name == "tcg"; }

std::unique_ptr<Vm> create_vm(const std::string& name, unsigned vcpus) {
  if (name == "kvm") return std::make_unique<kvm::KvmVm>();
  if (name == "tcg") return std::make_unique<tcg::TcgVm>(vcpus);
  throw Error("machine.accel: unknown accelerator '" + name + "' (allowed: auto, kvm, tcg)");
}

}  // namespace hsls::accel
