// What the virtio-net fuzz targets need around a VirtioNet: guest RAM, DMA,
// an interrupt that counts, a fake tap (fuzz_tap.h), and the device's I/O
// steps (process_tx, process_rx, send_released), which its I/O thread runs
// after a notification or a commit. The targets call them directly, on
// their own thread and in a fuzzed order, instead of starting the thread:
// the same code, deterministic. They are private; the explicit
// instantiations below name them (an explicit instantiation may name
// private members), without changing the class. HoldOf names its hold
// queue (how many frames it holds, without building info()'s JSON).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "fuzz/fuzz_tap.h"
#include "vmm/devices/dma.h"
#include "vmm/devices/virtio/net.h"
#include "vmm/net/tap.h"

namespace hsls::fuzz {

template <typename Tag, typename Tag::type M>
struct Rob {
  friend typename Tag::type get(Tag) { return M; }
};
struct ProcessTx {
  using type = void (virtio::VirtioNet::*)();
  friend type get(ProcessTx);
};
struct ProcessRx {
  using type = void (virtio::VirtioNet::*)();
  friend type get(ProcessRx);
};
struct SendReleased {
  using type = void (virtio::VirtioNet::*)();
  friend type get(SendReleased);
};
struct HoldOf {
  using type = net::HoldQueue virtio::VirtioNet::*;
  friend type get(HoldOf);
};
template struct Rob<ProcessTx, &virtio::VirtioNet::process_tx>;
template struct Rob<HoldOf, &virtio::VirtioNet::hold_>;
template struct Rob<ProcessRx, &virtio::VirtioNet::process_rx>;
template struct Rob<SendReleased, &virtio::VirtioNet::send_released>;

struct CountingEdge : IrqEdge {
  uint64_t count = 0;
  void trigger() override { ++count; }
};

// Guest RAM of exactly `bytes` bytes on the heap (ASan sees any byte past it).
struct Guest {
  explicit Guest(uint64_t bytes) : ram(new uint8_t[bytes]()), size(bytes), mem(ram.get(), bytes), dma(mem, dirty) {}
  std::unique_ptr<uint8_t[]> ram;
  uint64_t size;
  GuestMemory mem;
  DeviceDirtyLog dirty;
  Dma dma;
  CountingEdge irq;
};

inline virtio::NetConfig net_config(bool external_sync, unsigned max_held) {
  virtio::NetConfig cfg;
  cfg.mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  cfg.external_sync = external_sync;
  cfg.max_held = max_held;
  return cfg;
}

inline std::unique_ptr<virtio::VirtioNet> make_net(Guest& g, const virtio::NetConfig& cfg, uint64_t epoch) {
  return std::make_unique<virtio::VirtioNet>(cfg, std::make_unique<net::Tap>("fuzz0"), g.dma, g.irq, epoch);
}

// One pass of the I/O thread's loop body, as io_loop runs it (lock held).
inline void io_pass(virtio::VirtioNet& net) {
  std::lock_guard lock(net.transport().mutex());
  try {
    (net.*get(SendReleased{}))();
    (net.*get(ProcessTx{}))();
    (net.*get(ProcessRx{}))();
  } catch (const std::exception&) {
    // io_loop logs it and goes on
  }
}

}  // namespace hsls::fuzz
