// What the checkpointer needs of the machine, and nothing more: the VM and
// its vCPUs through the accelerator interface, the devices' state and the
// right to stop the machine. The machine implements it; the checkpoint
// layer never includes the machine (the layers' arrows run one way).
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "vmm/accel/accel.h"
#include "vmm/core/guest_memory.h"
#include "vmm/devices/serial.h"

namespace hsls::ckpt {

class MachineView {
 public:
  virtual ~MachineView() = default;
  virtual accel::Vm& vm() = 0;
  virtual unsigned vcpu_count() const = 0;
  virtual accel::Vcpu& vcpu(unsigned i) = 0;
  virtual GuestMemory& memory() = 0;

  // Holds every device still (no guest-memory or state change) while the lock lives.
  virtual std::unique_lock<std::mutex> quiesce_devices() = 0;
  // The serial port's state (quiesced).
  virtual SerialState serial_state() = 0;
  // Appends the devices' variable-size state (quiesced).
  virtual void save_devices(std::vector<uint8_t>& out) = 0;
  // Appends the RAM pages devices wrote since the last call (quiesced).
  virtual void collect_device_dirty(std::vector<uint64_t>& out) = 0;
  // Checkpoint `version` committed (quiesced).
  virtual void devices_committed(uint64_t version) = 0;
  // The pause is over (no longer quiesced): devices may move what the commit let go.
  virtual void devices_resumed() = 0;

  // Whether the machine is stopping (a power failure, a quit, a crash).
  virtual bool stopped() const = 0;
  // Stops the machine as crashed, with one line.
  virtual void fail(const std::string& why) = 0;
};

}  // namespace hsls::ckpt
