// Constants of the virtio 1.x specification that the VMM's devices use:
// the virtio-mmio register map (§4.2.2), device status bits (§2.1),
// feature bits and split-virtqueue descriptor flags (§2.7).
#pragma once
#include <cstdint>

namespace hsls::virtio {

// virtio-mmio registers (byte offsets in the device's window).
enum MmioReg : uint32_t {
  kMagicValue = 0x000,
  kVersion = 0x004,
  kDeviceId = 0x008,
  kVendorId = 0x00c,
  kDeviceFeatures = 0x010,
  kDeviceFeaturesSel = 0x014,
  kDriverFeatures = 0x020,
  kDriverFeaturesSel = 0x024,
  kQueueSel = 0x030,
  kQueueNumMax = 0x034,
  kQueueNum = 0x038,
  kQueueReady = 0x044,
  kQueueNotify = 0x050,
  kInterruptStatus = 0x060,
  kInterruptAck = 0x064,
  kStatus = 0x070,
  kQueueDescLow = 0x080,
  kQueueDescHigh = 0x084,
  kQueueDriverLow = 0x090,
  kQueueDriverHigh = 0x094,
  kQueueDeviceLow = 0x0a0,
  kQueueDeviceHigh = 0x0a4,
  kConfigGeneration = 0x0fc,
  kConfig = 0x100,
};

inline constexpr uint32_t kMagic = 0x74726976;  // "virt"
inline constexpr uint32_t kMmioVersion = 2;     // modern (virtio 1.x)
inline constexpr uint32_t kVendor = 0x48534c53; // "HSLS"

// Device status bits.
enum Status : uint32_t {
  kAcknowledge = 1,
  kDriver = 2,
  kDriverOk = 4,
  kFeaturesOk = 8,
  kNeedsReset = 64,
  kFailed = 128,
};

// InterruptStatus bits.
inline constexpr uint32_t kIntUsedBuffer = 1;
inline constexpr uint32_t kIntConfigChange = 2;

// Feature bits.
inline constexpr uint64_t kFVersion1 = 1ull << 32;

// Split-virtqueue descriptor flags.
inline constexpr uint16_t kDescNext = 1;
inline constexpr uint16_t kDescWrite = 2;
inline constexpr uint16_t kDescIndirect = 4;

// virtio-net (device id 1).
inline constexpr uint32_t kNetDeviceId = 1;
inline constexpr uint64_t kNetFMac = 1ull << 5;
inline constexpr uint64_t kNetFStatus = 1ull << 16;
inline constexpr uint16_t kNetLinkUp = 1;
inline constexpr uint32_t kNetHdrBytes = 12;  // virtio_net_hdr with num_buffers (VERSION_1)

}  // namespace hsls::virtio
