// The virtqueue's checks against a hostile driver, the virtio-mmio
// transport's register protocol, and the external-synchrony hold queue.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "tests/unit/sparse_ram.h"
#include "vmm/devices/virtio/mmio.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/devices/virtio/virtqueue.h"
#include "vmm/net/hold_queue.h"

using namespace hsls;
using namespace hsls::virtio;
using hsls::test::SparseRam;

namespace {

constexpr uint64_t kRam = 16ull << 20;
constexpr uint64_t kDesc = 0x10000, kAvail = 0x11000, kUsed = 0x12000;

// A guest with one queue of `num` entries laid out at kDesc/kAvail/kUsed.
struct Ring {
  SparseRam ram{kRam};
  GuestMemory mem{ram.data(), kRam};
  DeviceDirtyLog dirty;
  Dma dma{mem, dirty};
  QueueState st;
  Virtqueue q{dma, st};

  explicit Ring(uint16_t num = 8) {
    st.num = num;
    st.desc = kDesc;
    st.avail = kAvail;
    st.used = kUsed;
    st.ready = 1;
  }
  void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
    uint8_t* d = ram.data() + kDesc + 16ull * i;
    std::memcpy(d, &addr, 8);
    std::memcpy(d + 8, &len, 4);
    std::memcpy(d + 12, &flags, 2);
    std::memcpy(d + 14, &next, 2);
  }
  // Offers chain `head` in the available ring.
  void offer(uint16_t head) {
    uint16_t idx;
    std::memcpy(&idx, ram.data() + kAvail + 2, 2);
    std::memcpy(ram.data() + kAvail + 4 + 2 * (idx % st.num), &head, 2);
    ++idx;
    std::memcpy(ram.data() + kAvail + 2, &idx, 2);
  }
  void set_avail_idx(uint16_t idx) { std::memcpy(ram.data() + kAvail + 2, &idx, 2); }
  uint16_t used_idx() const {
    uint16_t v;
    std::memcpy(&v, ram.data() + kUsed + 2, 2);
    return v;
  }
  Pop pop(Chain& c) {
    std::string why;
    return q.pop(c, why);
  }
};

struct CountingIrq : IrqEdge {
  int count = 0;
  void trigger() override { ++count; }
};

struct FakeBackend : VirtioBackend {
  int resets = 0, notified = -1;
  uint32_t device_id() const override { return kNetDeviceId; }
  uint64_t device_features() const override { return kFVersion1 | kNetFMac; }
  unsigned queue_count() const override { return 2; }
  void read_config(uint64_t, uint8_t* data, unsigned len) override { std::memset(data, 0xab, len); }
  void notify(unsigned q) override { notified = int(q); }
  void reset() override { ++resets; }
};

uint32_t rd(VirtioMmio& m, uint64_t off) {
  uint32_t v = 0;
  m.read(off, reinterpret_cast<uint8_t*>(&v), 4);
  return v;
}
void wr(VirtioMmio& m, uint64_t off, uint32_t v) { m.write(off, reinterpret_cast<uint8_t*>(&v), 4); }

}  // namespace

TEST_SUITE("virtio") {

TEST_CASE("virtqueue: a well-formed chain is taken and returned") {
  Ring r;
  REQUIRE(r.ram.ok());
  std::string why;
  REQUIRE(r.q.check_layout(why));
  r.desc(0, 0x20000, 12, kDescNext, 1);
  r.desc(1, 0x20100, 100, kDescWrite);
  r.offer(0);
  Chain c;
  REQUIRE(r.pop(c) == Pop::ok);
  CHECK(c.head == 0);
  REQUIRE(c.bufs.size() == 2);
  CHECK(c.readable == 12);
  CHECK(c.writable == 100);
  CHECK(r.pop(c) == Pop::empty);
  REQUIRE(r.q.push(c.head, 100));
  CHECK(r.used_idx() == 1);
  std::vector<uint64_t> pages;
  r.dirty.collect(pages);
  CHECK(std::find(pages.begin(), pages.end(), kUsed / 4096) != pages.end());
}

TEST_CASE("virtqueue: hostile rings are malformed, never followed") {
  Ring r;
  Chain c;
  SUBCASE("address outside RAM") {
    r.desc(0, kRam + 4096, 64, 0);
    r.offer(0);
    CHECK(r.pop(c) == Pop::malformed);
  }
  SUBCASE("address plus length crossing the end of RAM") {
    r.desc(0, kRam - 16, 64, 0);
    r.offer(0);
    CHECK(r.pop(c) == Pop::malformed);
  }
  SUBCASE("huge length") {
    r.desc(0, 0x20000, 0xffffffffu, kDescWrite);
    r.offer(0);
    CHECK(r.pop(c) == Pop::malformed);
  }
  SUBCASE("a loop of descriptors") {
    r.desc(0, 0x20000, 16, kDescNext, 1);
    r.desc(1, 0x20000, 16, kDescNext, 0);
    r.offer(0);
    CHECK(r.pop(c) == Pop::malformed);
  }
  SUBCASE("next beyond the queue") {
    r.desc(0, 0x20000, 16, kDescNext, 200);
    r.offer(0);
    CHECK(r.pop(c) == Pop::malformed);
  }
  SUBCASE("head beyond the queue") {
    r.offer(9);
    CHECK(r.pop(c) == Pop::malformed);
  }
  SUBCASE("available index jumping by more than the queue") {
    r.set_avail_idx(100);
    CHECK(r.pop(c) == Pop::malformed);
  }
  SUBCASE("indirect descriptors were not negotiated") {
    r.desc(0, 0x20000, 16, kDescIndirect);
    r.offer(0);
    CHECK(r.pop(c) == Pop::malformed);
  }
  SUBCASE("readable after writable") {
    r.desc(0, 0x20000, 16, kDescWrite | kDescNext, 1);
    r.desc(1, 0x20000, 16, 0);
    r.offer(0);
    CHECK(r.pop(c) == Pop::malformed);
  }
  CHECK(r.used_idx() == 0);  // nothing was returned
}

TEST_CASE("virtqueue: ring layout is checked when the queue becomes ready") {
  Ring r;
  std::string why;
  SUBCASE("size not a power of two") { r.st.num = 6; }
  SUBCASE("size zero") { r.st.num = 0; }
  SUBCASE("size above the maximum") { r.st.num = 512; }
  SUBCASE("descriptor table outside RAM") { r.st.desc = kRam - 64; }
  SUBCASE("used ring outside RAM") { r.st.used = 0xd0000000; }
  SUBCASE("misaligned descriptor table") { r.st.desc = kDesc + 8; }
  CHECK_FALSE(r.q.check_layout(why));
  CHECK_FALSE(why.empty());
}

TEST_CASE("virtio-mmio: identification, feature negotiation and reset") {
  SparseRam ram(kRam);
  GuestMemory mem(ram.data(), kRam);
  DeviceDirtyLog dirty;
  Dma dma(mem, dirty);
  FakeBackend be;
  CountingIrq irq;
  VirtioMmio m("test", be, dma, irq);
  CHECK(rd(m, kMagicValue) == kMagic);
  CHECK(rd(m, kVersion) == 2);
  CHECK(rd(m, kDeviceId) == kNetDeviceId);
  wr(m, kDeviceFeaturesSel, 1);
  CHECK(rd(m, kDeviceFeatures) == 1);  // VERSION_1 is bit 32
  wr(m, kStatus, kAcknowledge | kDriver);

  SUBCASE("features we do not offer are refused") {
    wr(m, kDriverFeaturesSel, 0);
    wr(m, kDriverFeatures, 1u << 3);
    wr(m, kDriverFeaturesSel, 1);
    wr(m, kDriverFeatures, 1);
    wr(m, kStatus, kAcknowledge | kDriver | kFeaturesOk);
    CHECK((rd(m, kStatus) & kFeaturesOk) == 0);
  }
  SUBCASE("a legacy driver (no VERSION_1) is refused") {
    wr(m, kDriverFeaturesSel, 0);
    wr(m, kDriverFeatures, 1u << 5);
    wr(m, kStatus, kAcknowledge | kDriver | kFeaturesOk);
    CHECK((rd(m, kStatus) & kFeaturesOk) == 0);
  }
  SUBCASE("a bad queue makes the device need a reset, and a reset clears it") {
    wr(m, kDriverFeaturesSel, 1);
    wr(m, kDriverFeatures, 1);
    wr(m, kStatus, kAcknowledge | kDriver | kFeaturesOk);
    CHECK((rd(m, kStatus) & kFeaturesOk) != 0);
    wr(m, kQueueSel, 0);
    wr(m, kQueueNum, 8);
    wr(m, kQueueDescLow, 0xfffff000);  // outside 16 MiB of RAM
    wr(m, kQueueReady, 1);
    CHECK(rd(m, kQueueReady) == 0);
    CHECK((rd(m, kStatus) & kNeedsReset) != 0);
    CHECK((rd(m, kInterruptStatus) & kIntConfigChange) != 0);
    CHECK(irq.count == 1);
    CHECK(m.malformed() == 1);
    wr(m, kStatus, 0);
    CHECK(rd(m, kStatus) == 0);
    CHECK(be.resets == 1);
  }
  SUBCASE("queue notifications reach the backend; others are ignored") {
    wr(m, kQueueNotify, 1);
    CHECK(be.notified == 1);
    be.notified = -1;
    wr(m, kQueueNotify, 7);
    CHECK(be.notified == -1);
  }
}

TEST_CASE("hold queue: frames leave in order once their epoch committed") {
  net::HoldQueue h(4);
  std::vector<uint8_t> a = {1, 2, 3}, b = {4}, c = {5, 6};
  h.push(7, a, 1000);
  h.push(7, b, 2000);
  h.push(8, c, 3000);
  std::vector<std::vector<uint8_t>> sent;
  auto send = [&](const net::HeldFrame& f) { sent.push_back(f.bytes); };
  CHECK(h.release(6, 5000, send) == 0);
  CHECK(h.release(7, 1'001'000, send) == 2);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0] == a);
  CHECK(sent[1] == b);
  CHECK(h.size() == 1);
  auto st = h.stats();
  CHECK(st["released"] == 2);
  CHECK(st["hold_us"]["max"] == 1000);

  std::vector<uint8_t> bytes;
  h.serialize(bytes);
  net::HoldQueue back(4);
  std::string why;
  REQUIRE(back.deserialize(bytes, 0, why));
  CHECK(back.release(8, 0, send) == 1);
  CHECK(sent.back() == c);

  SUBCASE("truncated or oversized saved frames are refused") {
    bytes.pop_back();
    CHECK_FALSE(net::HoldQueue(4).deserialize(bytes, 0, why));
    std::vector<uint8_t> many = {100, 0, 0, 0};
    CHECK_FALSE(net::HoldQueue(4).deserialize(many, 0, why));
  }
}

namespace {

// Saved held frames as HoldQueue::serialize writes them: u32 count, then
// per frame u64 epoch, u32 length, bytes.
std::vector<uint8_t> saved_frames(const std::vector<uint32_t>& lengths) {
  std::vector<uint8_t> out;
  auto put = [&](const void* p, size_t n) { out.insert(out.end(), (const uint8_t*)p, (const uint8_t*)p + n); };
  uint32_t count = uint32_t(lengths.size());
  put(&count, 4);
  for (uint32_t len : lengths) {
    uint64_t epoch = 5;
    put(&epoch, 8);
    put(&len, 4);
    out.resize(out.size() + len, 0xab);
  }
  return out;
}

}  // namespace

TEST_CASE("hold queue: a restored frame is at most what TX queues, and nothing follows the last") {
  // TX holds the Ethernet frame without the 12-byte virtio-net header, at
  // most 1518 bytes (a VLAN-tagged frame, no offloads negotiated).
  CHECK(net::HoldQueue::kMaxFrameBytes == 1518);
  std::string why;
  net::HoldQueue ok(4);
  REQUIRE(ok.deserialize(saved_frames({0, 60, 1518}), 0, why));
  CHECK(ok.size() == 3);
  // What TX queues comes back unchanged.
  std::vector<uint8_t> big(1518, 0x5c);
  net::HoldQueue h(4);
  h.push(9, big, 0);
  std::vector<uint8_t> bytes;
  h.serialize(bytes);
  net::HoldQueue back(4);
  REQUIRE(back.deserialize(bytes, 0, why));
  std::vector<uint8_t> sent;
  back.release(9, 0, [&](const net::HeldFrame& f) { sent = f.bytes; });
  CHECK(sent == big);

  for (uint32_t len : {1519u, 1518u + 12u, 65536u}) {
    CAPTURE(len);
    why.clear();
    net::HoldQueue q(4);
    CHECK_FALSE(q.deserialize(saved_frames({60, len}), 0, why));
    CHECK(why == "held frame 1 has " + std::to_string(len) + " bytes (allowed: at most 1518)");
    CHECK(q.size() == 0);
  }
  for (size_t extra : {1u, 7u, 4096u}) {
    CAPTURE(extra);
    auto b = saved_frames({60});
    b.resize(b.size() + extra, 0);
    why.clear();
    net::HoldQueue q(4);
    CHECK_FALSE(q.deserialize(b, 0, why));
    CHECK(why == std::to_string(extra) + " byte(s) follow the last held frame");
  }
  // An empty queue is 4 bytes and nothing more.
  CHECK(net::HoldQueue(4).deserialize(saved_frames({}), 0, why));
  auto empty_plus = saved_frames({});
  empty_plus.push_back(0);
  CHECK_FALSE(net::HoldQueue(4).deserialize(empty_plus, 0, why));
}

TEST_CASE("hold queue: full at its limit") {
  net::HoldQueue h(2);
  std::vector<uint8_t> f = {1};
  h.push(1, f, 0);
  CHECK_FALSE(h.full());
  h.push(1, f, 0);
  CHECK(h.full());
}

}  // TEST_SUITE
