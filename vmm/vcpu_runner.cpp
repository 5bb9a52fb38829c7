#include "vmm/vcpu_runner.h"

#include <pthread.h>

#include <fmt/format.h>

#include "vmm/core/cpu_placement.h"
#include "vmm/core/log.h"
#include "vmm/machine.h"

namespace hsls {

VcpuRunner::VcpuRunner(Machine& machine, std::unique_ptr<accel::Vcpu> vcpu) : machine_(machine), vcpu_(std::move(vcpu)) {}

VcpuRunner::~VcpuRunner() { join(); }

void VcpuRunner::start() {
  thread_ = std::thread([this] { thread_main(); });
}

void VcpuRunner::join() {
  if (thread_.joinable()) thread_.join();
}

// The run loop. Anything thrown here stops the machine with one line.
void VcpuRunner::thread_main() {
  vcpu_->thread_started();
  std::string tname = "vcpu" + std::to_string(index());
  pthread_setname_np(pthread_self(), tname.c_str());
  if (host_cpu_ >= 0 && !pin_this_thread({host_cpu_}))
    log::get("vcpu")->warn("vCPU {}: cannot pin its thread to CPU {}; it runs unpinned", index(), host_cpu_);
  try {
    machine_.vcpu_started(*this);
    while (machine_.vcpu_checkpoint(*this))
      if (!dispatch(vcpu_->run())) break;
  } catch (const std::exception& e) {
    machine_.vcpu_error(*this, e.what());
  } catch (...) {
    machine_.vcpu_error(*this, "unknown exception");
  }
  vcpu_->thread_ended();
  machine_.vcpu_exited(*this);
}

bool VcpuRunner::dispatch(const accel::Exit& e) {
  using K = accel::Exit::Kind;
  switch (e.kind) {
    case K::io: {
      uint8_t* data = e.data;
      for (uint32_t i = 0; i < e.count; ++i, data += e.size)
        if (!machine_.pio(uint16_t(e.addr), data, e.size, e.write)) {
          machine_.vcpu_failed(*this, accel::unowned_access(true, e.addr, e.size, e.write));
          return false;
        }
      return true;
    }
    case K::mmio:
      if (!machine_.mmio(e.addr, e.data, e.size, e.write)) {
        machine_.vcpu_failed(*this, accel::unowned_access(false, e.addr, e.size, e.write));
        return false;
      }
      return true;
    case K::halt:
    case K::interrupted: return true;
    case K::dirty_full: machine_.dirty_log_full(); return true;
    case K::reset:
    case K::poweroff: machine_.guest_system_event(e.kind == K::reset); return false;
    case K::failed: machine_.vcpu_failed(*this, e.reason); return false;
  }
  return false;
}

}  // namespace hsls
