// The virtio-net device (vmm/devices/virtio/net.h) as a hostile guest and
// a hostile network drive it: register reads and writes, guest RAM writes
// (raw, descriptors, available-ring entries), frames arriving on the tap,
// passes of the device's I/O loop (release held frames, TX ring -> hold
// queue, tap -> RX ring), checkpoints (save, then commit) and power
// failures (a new device restored from the last committed checkpoint).
// The promises: nothing touches memory outside guest RAM (ASan), a frame on
// the wire is at most 1518 bytes, and with external synchrony no frame
// leaves before a checkpoint taken after it was queued has committed.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fuzz/net_device.h"
#include "vmm/core/error.h"
#include "vmm/core/log.h"
#include "vmm/devices/virtio/virtio.h"

using namespace hsls;
using namespace hsls::virtio;

namespace {

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "fuzz_virtio_net: %s\n", what.c_str());
  std::abort();
}

constexpr uint32_t kRegs[] = {kDeviceFeaturesSel, kDriverFeatures, kDriverFeaturesSel, kQueueSel, kQueueNum,
                              kQueueReady,        kQueueNotify,    kInterruptAck,      kStatus,   kQueueDescLow,
                              kQueueDescHigh,     kQueueDriverLow, kQueueDriverHigh,   kQueueDeviceLow,
                              kQueueDeviceHigh,   kMagicValue,     kDeviceFeatures,    kQueueNumMax,
                              kInterruptStatus,   kConfigGeneration, kConfig};

// Frames the device holds now.
uint64_t held(VirtioNet& net) { return (net.*get(fuzz::HoldOf{})).size(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = log::set_level("off");
  (void)quiet;
  FuzzedDataProvider in(data, size);
  auto& wire = fuzz::tap_wire();
  wire = {};
  const uint64_t ram_bytes = 64 * 1024;
  fuzz::Guest g(ram_bytes);
  const bool sync = in.ConsumeIntegralInRange<int>(0, 7) != 0;  // external synchrony: on by default
  const unsigned max_held = in.ConsumeIntegralInRange<unsigned>(1, 256);
  auto cfg = fuzz::net_config(sync, max_held);
  uint64_t committed = 0;
  auto net = fuzz::make_net(g, cfg, committed + 1);
  std::vector<uint8_t> checkpoint;  // the device's state in the last committed checkpoint
  {
    std::lock_guard lock(net->transport().mutex());
    net->save(checkpoint);
  }
  // Since the last commit (or recovery) at most the frames held then may go
  // out: every frame queued later belongs to a checkpoint not yet committed.
  size_t sent_mark = 0;
  uint64_t may_send = 0;
  while (in.remaining_bytes() > 0) {
    switch (in.ConsumeIntegralInRange<int>(0, 8)) {
      case 0: {
        uint64_t off = in.ConsumeBool() ? in.PickValueInArray(kRegs) : in.ConsumeIntegralInRange<uint64_t>(0, 0xfff);
        unsigned len = in.ConsumeBool() ? 4 : in.PickValueInArray({1u, 2u, 8u});
        uint8_t v[8] = {};
        uint32_t value = in.ConsumeBool() ? in.ConsumeIntegralInRange<uint32_t>(0, 300) : in.ConsumeIntegral<uint32_t>();
        std::memcpy(v, &value, 4);
        net->transport().write(off, v, len);
        break;
      }
      case 1: {
        uint64_t off = in.ConsumeBool() ? in.PickValueInArray(kRegs) : in.ConsumeIntegralInRange<uint64_t>(0, 0xfff);
        uint8_t v[8];
        net->transport().read(off, v, in.PickValueInArray({1u, 2u, 4u, 8u}));
        break;
      }
      case 2: {
        uint64_t at = in.ConsumeIntegralInRange<uint64_t>(0, ram_bytes - 1);
        auto bytes = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(1, 64));
        if (!bytes.empty()) std::memcpy(g.ram.get() + at, bytes.data(), size_t(std::min<uint64_t>(bytes.size(), ram_bytes - at)));
        break;
      }
      case 3: {  // a descriptor in a queue's table
        unsigned q = in.ConsumeIntegralInRange<unsigned>(0, 1);
        const QueueState st = net->transport().save().queues[q];
        uint16_t i = in.ConsumeIntegralInRange<uint16_t>(0, 255);
        struct {
          uint64_t addr;
          uint32_t len;
          uint16_t flags, next;
        } d{in.ConsumeIntegralInRange<uint64_t>(0, ram_bytes), in.ConsumeIntegralInRange<uint32_t>(0, 2048),
            in.ConsumeIntegralInRange<uint16_t>(0, 7), in.ConsumeIntegralInRange<uint16_t>(0, 300)};
        uint64_t at = st.desc + 16ull * i;
        if (at < ram_bytes && ram_bytes - at >= sizeof d) std::memcpy(g.ram.get() + at, &d, sizeof d);
        break;
      }
      case 4: {  // offer a chain
        unsigned q = in.ConsumeIntegralInRange<unsigned>(0, 1);
        const QueueState st = net->transport().save().queues[q];
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
      case 5: {  // a frame arrives on the tap (a tap has no empty frames: read() gives 0 for none)
        auto frame = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(1, 2048));
        if (!frame.empty()) wire.rx.push_back(std::move(frame));
        break;
      }
      case 6:
        fuzz::io_pass(*net);
        break;
      case 7: {  // a checkpoint: the device's state is saved, then the checkpoint commits
        {
          std::lock_guard lock(net->transport().mutex());  // quiesced, as the checkpointer holds it
          checkpoint.clear();
          net->save(checkpoint);
          net->committed(++committed);
        }
        sent_mark = wire.tx.size();
        may_send = held(*net);
        break;
      }
      case 8: {  // power failure, then recovery of the last committed checkpoint
        net->power_off();
        net.reset();
        net = fuzz::make_net(g, cfg, committed + 1);
        try {
          std::lock_guard lock(net->transport().mutex());
          net->restore(checkpoint);
        } catch (const Error& e) {
          broken(std::string("a checkpoint the device saved is refused: ") + e.what());
        }
        sent_mark = wire.tx.size();
        may_send = held(*net);
        break;
      }
    }
    for (const auto& f : wire.tx)
      if (f.size() > 1518) broken("a frame longer than 1518 bytes went out");
    if (sync && wire.tx.size() - sent_mark > may_send)
      broken("a frame went out before the checkpoint after its queueing committed (" +
             std::to_string(wire.tx.size() - sent_mark) + " sent since, " + std::to_string(may_send) + " were held)");
  }
  net->info();  // what `info net` shows of it
  wire = {};
  return 0;
}
