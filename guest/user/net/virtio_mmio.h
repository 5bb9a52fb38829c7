// virtio-mmio transport (virtio 1.x §4.2.2, "modern", Version 2): register
// offsets, status and feature bits, and an accessor for a mapped register
// window. Every access from ring 3 is an exit to the VMM (~25-35 us on PVM
// hosts): callers keep them off the per-packet path where they can.
#pragma once
#include "user/ulib.h"

namespace net {

enum MmioReg : u32 {
  MAGIC = 0x000,           // 0x74726976 ("virt")
  VERSION = 0x004,         // 2 = modern
  DEVICE_ID = 0x008,       // 1 = network
  VENDOR_ID = 0x00c,
  DEVICE_FEATURES = 0x010,
  DEVICE_FEATURES_SEL = 0x014,
  DRIVER_FEATURES = 0x020,
  DRIVER_FEATURES_SEL = 0x024,
  QUEUE_SEL = 0x030,
  QUEUE_NUM_MAX = 0x034,
  QUEUE_NUM = 0x038,
  QUEUE_READY = 0x044,
  QUEUE_NOTIFY = 0x050,
  INTERRUPT_STATUS = 0x060,
  INTERRUPT_ACK = 0x064,
  STATUS = 0x070,
  QUEUE_DESC_LOW = 0x080,
  QUEUE_DESC_HIGH = 0x084,
  QUEUE_DRIVER_LOW = 0x090,   // available ring
  QUEUE_DRIVER_HIGH = 0x094,
  QUEUE_DEVICE_LOW = 0x0a0,   // used ring
  QUEUE_DEVICE_HIGH = 0x0a4,
  CONFIG_GENERATION = 0x0fc,
  CONFIG = 0x100,
};

constexpr u32 VIRTIO_MAGIC = 0x74726976;
constexpr u32 VIRTIO_ID_NET = 1;

// Device status bits.
enum Status : u32 {
  S_ACKNOWLEDGE = 1,
  S_DRIVER = 2,
  S_DRIVER_OK = 4,
  S_FEATURES_OK = 8,
  S_NEEDS_RESET = 0x40,
  S_FAILED = 0x80,
};

// InterruptStatus bits.
enum Isr : u32 { ISR_USED = 1, ISR_CONFIG = 2 };

// Feature bits (bit numbers).
constexpr unsigned F_NET_MAC = 5, F_NET_STATUS = 16, F_VERSION_1 = 32;

// A mapped register window.
struct Mmio {
  volatile u8* base = nullptr;

  u32 read(u32 off) const { return *reinterpret_cast<volatile u32*>(base + off); }
  void write(u32 off, u32 v) const { *reinterpret_cast<volatile u32*>(base + off) = v; }
  u8 read8(u32 off) const { return base[off]; }
  uint16_t read16(u32 off) const { return *reinterpret_cast<volatile uint16_t*>(base + off); }
  void write64(u32 low, u64 v) const {
    write(low, u32(v));
    write(low + 4, u32(v >> 32));
  }
};

// Maps the device PMO in `regs_slot` (uncached, read/write) and returns its
// register window (the window's offset in the page comes from PMO_PADDR).
// Checks MagicValue and Version 2; `device_id` (if not 0) must match.
// Prints "PROG: ..." and returns false on failure.
bool mmio_open(i64 regs_slot, u32 device_id, Mmio& out);

// Resets the device (Status = 0) and waits (up to ~100 ms) until it reads back 0.
bool reset(const Mmio& m);

// After a reset: ACKNOWLEDGE, DRIVER, feature negotiation (accepts
// offered & `want`, which must include every bit of `need`), FEATURES_OK.
// Returns the accepted features in `got`; false (with a message) on failure.
bool negotiate(const Mmio& m, u64 want, u64 need, u64& got);

}  // namespace net
