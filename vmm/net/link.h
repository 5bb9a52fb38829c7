// The far end of the virtio-net device's cable: whole Ethernet frames in and
// out. A tap device (the host's network) is one; the built-in key-value
// client (KvPeer) is another, one the VMM drives itself, so that a
// deterministic machine can have a network and the crash explorer can
// check what the network was told.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace hsls::net {

class Link {
 public:
  virtual ~Link() = default;
  // For log lines and `info net`.
  virtual std::string name() const = 0;
  // A descriptor that becomes readable when a frame waits for the guest;
  // -1: the link has no descriptor, and the device moves frames inline
  // (on the thread that notified it, or after a checkpoint) instead of on
  // an I/O thread of its own.
  virtual int fd() const = 0;
  // One frame for the guest into `buf`; its length, 0 if none is waiting.
  virtual size_t read(uint8_t* buf, size_t cap) = 0;
  // A frame from the guest; false if it could not be sent (counted by the caller).
  virtual bool write(const uint8_t* frame, size_t len) = 0;
  // Checkpoint `version` committed: its frames have gone out.
  virtual void committed(uint64_t /*version*/) {}
  // The machine lost power: what it had not answered may or may not have happened.
  virtual void power_lost() {}
  // What the far end has to say for `info net` (null: nothing).
  virtual nlohmann::json info() const { return nullptr; }
};

}  // namespace hsls::net
