// A fake tap for the fuzz targets that run the virtio-net device: the same
// class (vmm/net/tap.h), defined here instead of vmm/net/tap.cpp, so that no
// /dev/net/tun is needed. Frames the device reads come from `rx`; frames it
// writes go to `tx`.
#pragma once
#include <cstdint>
#include <deque>
#include <vector>

namespace hsls::fuzz {

struct TapWire {
  std::deque<std::vector<uint8_t>> rx;   // frames waiting for the device to read
  std::vector<std::vector<uint8_t>> tx;  // frames the device wrote
  bool refuse_writes = false;            // the kernel refuses every frame
};

// The wire of every fake tap in this process.
TapWire& tap_wire();

}  // namespace hsls::fuzz
