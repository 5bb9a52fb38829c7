// One split virtqueue (virtio 1.x §2.7) seen from the device. Everything
// read from the guest is copied first and then checked: ring addresses,
// descriptor addresses and lengths must lie in guest RAM, chains are at most
// the queue size long, indices may not jump by more than the queue size.
// Anything else is "malformed" and the caller puts the device into
// NEEDS_RESET; nothing the guest writes can make the VMM touch memory
// outside the guest or loop forever.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/devices/dma.h"

namespace hsls::virtio {

inline constexpr uint16_t kQueueMax = 256;

// The queue's registers and the device's position in it; checkpointed as is.
struct QueueState {
  uint16_t num = 0;         // QueueNum (a power of two, <= kQueueMax)
  uint16_t ready = 0;       // QueueReady
  uint16_t last_avail = 0;  // next available-ring entry the device takes
  uint16_t used_idx = 0;    // next used-ring index the device writes
  uint64_t desc = 0, avail = 0, used = 0;  // guest-physical ring addresses
};

// One buffer of a descriptor chain.
struct Buffer {
  uint64_t gpa;
  uint32_t len;
  bool writable;
};

// A descriptor chain taken from the available ring.
struct Chain {
  uint16_t head = 0;
  std::vector<Buffer> bufs;
  uint64_t readable = 0, writable = 0;  // total bytes of each kind
};

enum class Pop { empty, ok, malformed };

class Virtqueue {
 public:
  Virtqueue(Dma& dma, QueueState& st) : dma_(dma), st_(st) {}

  // Checks the ring layout when the driver sets QueueReady; sets `why` if bad.
  bool check_layout(std::string& why) const;
  // True if the driver put buffers in the available ring we have not taken.
  // Sets `malformed` (and `why`) if the index is impossible.
  bool has_available(bool& malformed, std::string& why) const;
  // Takes the next chain from the available ring.
  Pop pop(Chain& out, std::string& why);
  // Gives back the chain taken last (the device could not use it yet).
  void unpop() { --st_.last_avail; }
  // Returns the chain `head` to the driver with `len` bytes written.
  bool push(uint16_t head, uint32_t len);
  // False if the driver asked for no interrupt (VIRTQ_AVAIL_F_NO_INTERRUPT).
  bool wants_interrupt() const;

 private:
  Dma& dma_;
  QueueState& st_;
};

}  // namespace hsls::virtio
