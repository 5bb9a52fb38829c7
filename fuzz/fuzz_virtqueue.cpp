// The virtio-mmio register file and split-virtqueue walking
// (vmm/devices/virtio/mmio.h, virtqueue.h) as a hostile guest drives them:
// a fuzzed sequence of register reads and writes (any offset, any width),
// writes to guest RAM (raw, or descriptors and ring entries where the
// driver placed its rings), and runs of a device that takes every chain it
// is offered and gives it back, failing the device (NEEDS_RESET) on a
// malformed ring as virtio-net does. The promises (virtqueue.h): every
// buffer of a chain lies in guest RAM, a chain is at most the queue size
// long, readable buffers come before writable ones, a queue only goes live
// with its rings in RAM, and no register access reaches outside the device.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fuzz/net_device.h"
#include "vmm/core/log.h"
#include "vmm/devices/virtio/mmio.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/devices/virtio/virtqueue.h"

using namespace hsls;
using namespace hsls::virtio;

namespace {

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "fuzz_virtqueue: %s\n", what.c_str());
  std::abort();
}

struct Backend : VirtioBackend {
  unsigned queues = 2;
  int notified = -1;
  uint32_t device_id() const override { return kNetDeviceId; }
  uint64_t device_features() const override { return kFVersion1 | (1ull << 5); }
  unsigned queue_count() const override { return queues; }
  void read_config(uint64_t offset, uint8_t* data, unsigned len) override {
    for (unsigned i = 0; i < len; ++i) data[i] = uint8_t(offset + i);
  }
  void notify(unsigned q) override {
    if (q >= queues) broken("a notification of a queue the device does not have");
    notified = int(q);
  }
  void reset() override {}
};

// The registers a driver writes (most inputs should hit one).
constexpr uint32_t kRegs[] = {kDeviceFeaturesSel, kDriverFeatures, kDriverFeaturesSel, kQueueSel, kQueueNum,
                              kQueueReady,        kQueueNotify,    kInterruptAck,      kStatus,   kQueueDescLow,
                              kQueueDescHigh,     kQueueDriverLow, kQueueDriverHigh,   kQueueDeviceLow,
                              kQueueDeviceHigh,   kMagicValue,     kDeviceFeatures,    kQueueNumMax,
                              kInterruptStatus,   kConfigGeneration, kConfig};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = log::set_level("off");
  (void)quiet;
  FuzzedDataProvider in(data, size);
  const uint64_t ram_bytes = in.PickValueInArray({uint64_t(64 * 1024), uint64_t(1024 * 1024)});
  fuzz::Guest g(ram_bytes);
  Backend be;
  VirtioMmio mmio("fuzz", be, g.dma, g.irq);
  std::vector<uint64_t> pages;
  while (in.remaining_bytes() > 0) {
    switch (in.ConsumeIntegralInRange<int>(0, 6)) {
      case 0: {  // a register write, mostly well-formed
        uint64_t off = in.ConsumeBool() ? in.PickValueInArray(kRegs) : in.ConsumeIntegralInRange<uint64_t>(0, 0x1fff);
        unsigned len = in.ConsumeBool() ? 4 : in.PickValueInArray({1u, 2u, 8u});
        uint8_t v[8] = {};
        uint32_t value = in.ConsumeBool() ? in.ConsumeIntegralInRange<uint32_t>(0, 300) : in.ConsumeIntegral<uint32_t>();
        std::memcpy(v, &value, 4);
        mmio.write(off, v, len);
        break;
      }
      case 1: {  // a register read
        uint64_t off = in.ConsumeBool() ? in.PickValueInArray(kRegs) : in.ConsumeIntegralInRange<uint64_t>(0, 0x1fff);
        unsigned len = in.PickValueInArray({1u, 2u, 4u, 8u});
        uint8_t v[8];
        mmio.read(off, v, len);
        break;
      }
      case 2: {  // raw bytes into guest RAM
        uint64_t at = in.ConsumeIntegralInRange<uint64_t>(0, ram_bytes - 1);
        auto bytes = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(1, 64));
        size_t n = size_t(std::min<uint64_t>(bytes.size(), ram_bytes - at));
        if (n) std::memcpy(g.ram.get() + at, bytes.data(), n);
        break;
      }
      case 3: {  // a descriptor, where the selected queue's table is
        unsigned q = in.ConsumeIntegralInRange<unsigned>(0, 1);
        const QueueState st = mmio.save().queues[q];
        uint16_t i = in.ConsumeIntegralInRange<uint16_t>(0, 255);
        struct {
          uint64_t addr;
          uint32_t len;
          uint16_t flags, next;
        } d{in.ConsumeBool() ? in.ConsumeIntegralInRange<uint64_t>(0, ram_bytes) : in.ConsumeIntegral<uint64_t>(),
            in.ConsumeBool() ? in.ConsumeIntegralInRange<uint32_t>(0, 4096) : in.ConsumeIntegral<uint32_t>(),
            in.ConsumeIntegralInRange<uint16_t>(0, 7), in.ConsumeIntegralInRange<uint16_t>(0, 300)};
        uint64_t at = st.desc + 16ull * i;
        if (at < ram_bytes && ram_bytes - at >= sizeof d) std::memcpy(g.ram.get() + at, &d, sizeof d);
        break;
      }
      case 4: {  // offer a chain in the available ring: entry, then index
        unsigned q = in.ConsumeIntegralInRange<unsigned>(0, 1);
        const QueueState st = mmio.save().queues[q];
        uint16_t head = in.ConsumeIntegralInRange<uint16_t>(0, 300);
        uint64_t idx_at = st.avail + 2;
        if (idx_at + 2 > ram_bytes || st.num == 0) break;
        uint16_t idx;
        std::memcpy(&idx, g.ram.get() + idx_at, 2);
        uint64_t e = st.avail + 4 + 2ull * (idx % st.num);
        if (e + 2 <= ram_bytes) std::memcpy(g.ram.get() + e, &head, 2);
        idx = uint16_t(idx + (in.ConsumeBool() ? 1 : in.ConsumeIntegral<uint16_t>()));
        std::memcpy(g.ram.get() + idx_at, &idx, 2);
        break;
      }
      case 5: {  // the device runs a queue, as virtio-net's I/O thread would
        unsigned q = in.ConsumeIntegralInRange<unsigned>(0, 1);
        std::lock_guard lock(mmio.mutex());
        if (!mmio.live(q)) break;
        QueueState st = mmio.save().queues[q];
        std::string why;
        if (!Virtqueue(g.dma, st).check_layout(why)) broken("a live queue whose rings are not in RAM: " + why);
        Virtqueue vq = mmio.queue(q);
        Chain c;
        for (unsigned k = 0; k < 300; ++k) {
          Pop r = vq.pop(c, why);
          if (r == Pop::empty) break;
          if (r == Pop::malformed) {
            if (why.empty()) broken("malformed without a reason");
            mmio.fail("queue: " + why);
            if (mmio.live(q)) broken("a failed queue is still live");
            break;
          }
          if (c.bufs.empty() || c.bufs.size() > st.num) broken("a chain longer than the queue");
          if (c.head >= st.num) broken("a chain head beyond the queue");
          uint64_t rd = 0, wr = 0;
          bool seen_writable = false;
          for (const Buffer& b : c.bufs) {
            if (!g.dma.contains(b.gpa, b.len)) broken("a buffer outside guest RAM");
            if (!b.writable && seen_writable) broken("a readable buffer after a writable one");
            seen_writable = seen_writable || b.writable;
            (b.writable ? wr : rd) += b.len;
          }
          if (rd != c.readable || wr != c.writable) broken("the chain's byte counts are wrong");
          if (in.ConsumeBool() && k == 0) {
            vq.unpop();  // the device could not use it yet
            break;
          }
          if (!vq.push(c.head, uint32_t(std::min<uint64_t>(c.writable, in.ConsumeIntegral<uint32_t>()))))
            broken("push() failed on a live queue");
        }
        vq.wants_interrupt();
        break;
      }
      case 6:  // a checkpoint and a restore of the transport
        mmio.restore(mmio.save());
        g.dirty.collect(pages);
        pages.clear();
        break;
    }
  }
  return 0;
}
