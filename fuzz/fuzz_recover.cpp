// The saved-state decoder: an NVM file whose committed checkpoint G holds
// the input as its saved machine state (record and checksums right, so the
// fuzzer reaches the decoding; the first byte can make parts of the header
// right too). recover() (ckpt/recovery.h) checks it; an accepted state is
// then taken apart as vmm loads it (Machine::load_state, the software CPU's
// set_lapic/set_platform): each vCPU's local APIC, the IOAPIC, the 8259
// pair, the PIT, the serial port and the virtio-net device (state and held
// frames) restored by their own restore(), which must refuse what is wrong
// with an Error. A restored part must save back to a state that restores
// to itself (restore(save()) is stable), so a checkpoint taken right after
// a recovery is as good as the one recovered.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <type_traits>

#include "ckpt/recovery.h"
#include "ckpt/state.h"
#include "fuzz/fuzz_tap.h"
#include "fuzz/nvm_image.h"
#include "nvm/journal.h"
#include "nvm/store.h"
#include "vmm/core/error.h"
#include "vmm/devices/dma.h"
#include "vmm/devices/serial.h"
#include "vmm/devices/virtio/net.h"
#include "vmm/net/tap.h"
#include "vmm/platform/ioapic.h"
#include "vmm/platform/lapic.h"
#include "vmm/platform/pic.h"
#include "vmm/platform/pit.h"

using namespace hsls;

// Every struct a checkpoint writes into the NVM file byte for byte has no
// padding, so no byte of it can be left unset (SerialState and VcpuState
// had some); what a device's save() leaves unset otherwise is checked below.
static_assert(std::has_unique_object_representations_v<ckpt::MachineStateHeader>);
static_assert(std::has_unique_object_representations_v<ckpt::VcpuState>);
static_assert(std::has_unique_object_representations_v<platform::PlatformState>);
static_assert(std::has_unique_object_representations_v<SerialState>);
static_assert(std::has_unique_object_representations_v<virtio::NetState>);
static_assert(std::has_unique_object_representations_v<nvm::CheckpointRecord>);
static_assert(std::has_unique_object_representations_v<nvm::Superblock>);

namespace {

constexpr uint64_t kPages = 4;
constexpr uint64_t kG = 7;

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "fuzz_recover: %s\n", what.c_str());
  std::abort();
}

struct NoBus : platform::ApicBus {
  void send_ipi(unsigned, const platform::Ipi&) override {}
  void eoi_level(uint8_t) override {}
};
struct NoSink : platform::InterruptSink {
  void deliver(uint8_t, bool, uint8_t, bool, uint8_t) override {}
};
struct NoLine : IrqLine {
  void set_level(bool) override {}
};
struct NoEdge : IrqEdge {
  void trigger() override {}
};

uint64_t g_now = 5'000'000'000ull;
platform::Clock fake_clock() {
  return [] { return g_now; };
}

// A device built in storage filled with `fill` first, so that any byte of
// it nobody sets differs between two devices built with different fills.
template <typename Dev>
struct Placed {
  alignas(Dev) unsigned char storage[sizeof(Dev)];
  Dev* dev;
  template <typename Make>
  Placed(uint8_t fill, Make make) {
    std::memset(storage, fill, sizeof storage);
    dev = make(static_cast<void*>(storage));
  }
  ~Placed() { dev->~Dev(); }
  Placed(const Placed&) = delete;
  Dev* operator->() { return dev; }
  Dev& operator*() { return *dev; }
};

// The bytes of dev.save(), made in a buffer filled with `fill` first.
template <typename State, typename Dev>
std::vector<uint8_t> saved_bytes(Dev& dev, uint8_t fill) {
  alignas(State) unsigned char buf[sizeof(State)];
  std::memset(buf, fill, sizeof buf);
  State* st = new (buf) State(dev.save());
  std::vector<uint8_t> out(buf, buf + sizeof buf);
  st->~State();
  return out;
}

size_t first_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t i = 0;
  while (i < a.size() && a[i] == b[i]) ++i;
  return i;
}

// What a device saves must be a function of its state alone: not of the
// memory the device or the copy lives in (no padding, no field left unset).
// It goes into the user's NVM file byte for byte, and its digest (--verify)
// must be reproducible. Checked for a device as built and as restored from
// `s`; then a state saved right after a restore must restore to itself.
// Returns false if `s` is refused (with an Error: fine).
template <typename Dev, typename State, typename Make>
bool restore_stable(const std::string& part, const State& s, Make make) {
  {
    Placed<Dev> a(0xaa, make), b(0x55, make);
    auto x = saved_bytes<State>(*a, 0xaa), y = saved_bytes<State>(*b, 0x55);
    if (x != y)
      broken(part + ": a new device saves bytes it never set (byte " + std::to_string(first_difference(x, y)) + " of " +
             std::to_string(x.size()) + ")");
  }
  Placed<Dev> a(0xaa, make), b(0x55, make);
  try {
    a->restore(s);
  } catch (const Error&) {
    return false;  // refused: fine
  }
  try {
    b->restore(s);
  } catch (const Error& e) {
    broken(part + ": the same state is refused the second time: " + e.what());
  }
  auto x = saved_bytes<State>(*a, 0xaa), y = saved_bytes<State>(*b, 0x55);
  if (x != y)
    broken(part + ": a restored device saves bytes it never set (byte " + std::to_string(first_difference(x, y)) + ")");
  State again_in;
  std::memcpy(static_cast<void*>(&again_in), x.data(), sizeof again_in);
  Placed<Dev> c(0x33, make);
  try {
    c->restore(again_in);
  } catch (const Error& e) {
    broken(part + ": a state saved right after a restore is refused: " + e.what());
  }
  auto z = saved_bytes<State>(*c, 0xaa);
  if (z != x) broken(part + ": restore(save()) is not stable (byte " + std::to_string(first_difference(x, z)) + ")");
  return true;
}

// The parts of an accepted state, loaded as vmm loads them.
void load(const std::vector<uint8_t>& st, unsigned vcpus) {
  ckpt::StateLayout sl;
  NoBus bus;
  for (unsigned i = 0; i < vcpus; ++i) {
    ckpt::VcpuState vs;
    std::memcpy(&vs, st.data() + sl.vcpu(i), sizeof vs);
    if (vs.version != ckpt::VcpuState::kVersion || vs.cpu.index != i) return;  // refused by load_state
    auto make = [&](void* at) { return new (at) platform::Lapic(i, bus, fake_clock()); };
    if (!restore_stable<platform::Lapic>("lapic " + std::to_string(i), vs.lapic, make)) return;
    platform::Lapic lapic(i, bus, fake_clock());
    lapic.restore(vs.lapic);
    for (uint32_t off = 0; off < 0x400; off += 16) lapic.read(off);
    if (lapic.timer_deadline() != UINT64_MAX && lapic.timer_deadline() < g_now) broken("lapic: a restored timer expired in the past");
    lapic.pending();
    lapic.tick();
  }
  platform::PlatformState p;
  std::memcpy(&p, st.data() + sl.platform(vcpus), sizeof p);
  if (p.version != platform::PlatformState::kVersion) return;  // refused by set_platform
  NoSink sink;
  if (!restore_stable<platform::Ioapic>("ioapic", p.ioapic, [&](void* at) { return new (at) platform::Ioapic(sink); }))
    return;
  platform::Ioapic io(sink);
  io.restore(p.ioapic);
  io.read(0x10);
  io.read(0x00);
  if (!restore_stable<platform::Pic>("pic", p.pic, [](void* at) { return new (at) platform::Pic(); })) return;
  platform::Pic pic;
  pic.restore(p.pic);
  for (uint16_t port : {0x20, 0x21, 0xa0, 0xa1}) pic.read(port);
  pic.pending();
  pic.acknowledge();
  if (!restore_stable<platform::Pit>("pit", p.pit, [](void* at) { return new (at) platform::Pit(fake_clock()); })) return;
  platform::Pit pit(fake_clock());
  pit.restore(p.pit);
  pit.read(0x40);
  pit.read(0x61);

  SerialState s;
  std::memcpy(static_cast<void*>(&s), st.data() + sl.serial(vcpus), sizeof s);
  NoLine line;
  if (!restore_stable<Serial>("serial", s, [&](void* at) { return new (at) Serial(line, false, ""); })) return;
  Serial serial(line, false, "");
  serial.restore(s);
  for (uint64_t r = 0; r < 8; ++r) {
    uint8_t b;
    serial.read(r, &b, 1);
  }

  uint64_t device_bytes = 0;
  std::memcpy(&device_bytes, st.data() + sl.devices(vcpus), 8);
  if (!device_bytes) return;
  std::span<const uint8_t> dev(st.data() + sl.devices(vcpus) + 8, device_bytes);
  static std::vector<uint8_t> ram(1 << 20);
  GuestMemory mem(ram.data(), ram.size());
  DeviceDirtyLog dirty;
  Dma dma(mem, dirty);
  NoEdge edge;
  virtio::NetConfig cfg;
  cfg.mac = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
  virtio::VirtioNet net(cfg, std::make_unique<net::Tap>("fuzz0"), dma, edge, kG + 1);
  try {
    std::lock_guard lock(net.transport().mutex());
    net.restore(dev);
  } catch (const Error&) {
    return;
  }
  std::vector<uint8_t> saved;
  {
    std::lock_guard lock(net.transport().mutex());
    net.save(saved);
  }
  virtio::VirtioNet net2(cfg, std::make_unique<net::Tap>("fuzz0"), dma, edge, kG + 1);
  std::vector<uint8_t> saved2;
  try {
    std::lock_guard lock(net2.transport().mutex());
    net2.restore(saved);
    net2.save(saved2);
  } catch (const Error& e) {
    broken(std::string("virtio-net: a state saved right after a restore is refused: ") + e.what());
  }
  if (saved2 != saved) broken("virtio-net: restore(save()) is not stable");
  net.info();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::silence_logs();
  static fuzz::MemFile file;
  static std::map<unsigned, std::vector<uint8_t>> baselines;
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  const unsigned vcpus = 1 + (flags & 1);
  std::vector<uint8_t> state(data + 1, data + std::min<size_t>(size, 1 + nvm::kStateSlotBytes));
  ckpt::StateLayout sl;
  if (flags & 2 && state.size() >= sizeof(ckpt::MachineStateHeader)) {  // a right header
    ckpt::MachineStateHeader h;
    std::memcpy(&h, state.data(), sizeof h);
    h.magic = ckpt::MachineStateHeader::kMagic;
    h.version = ckpt::MachineStateHeader::kVersion;
    h.vcpus = vcpus;
    h.version_tag = kG;
    h.total_bytes = state.size();
    std::memcpy(state.data(), &h, sizeof h);
  }
  if (flags & 4 && state.size() >= sl.total(vcpus)) {  // a right device byte count
    uint64_t n = state.size() - sl.total(vcpus);
    std::memcpy(state.data() + sl.devices(vcpus), &n, 8);
  }

  auto& base = baselines[vcpus];
  if (base.empty()) base = fuzz::make_image(kPages, vcpus, kG, fuzz::valid_state(vcpus, kG));
  static std::vector<uint8_t> image;  // reused: a fresh 4 MiB vector per run costs more than the run
  image.assign(base.begin(), base.end());
  const nvm::Layout l = nvm::compute_layout(kPages * nvm::kPage);
  const uint64_t at = l.state[kG % 2];
  std::memset(image.data() + at, 0, nvm::kStateSlotBytes);
  if (!state.empty()) std::memcpy(image.data() + at, state.data(), state.size());
  nvm::CheckpointRecord rec;
  const uint64_t rec_at = l.journal + (kG % nvm::kJournalRecords) * sizeof rec;
  std::memcpy(&rec, image.data() + rec_at, sizeof rec);
  rec.state_bytes = state.size();
  std::memcpy(image.data() + rec_at, &rec, sizeof rec);
  fuzz::reseal_record(image, l, kG, !(flags & 8));  // bit 3: keep the old (wrong) state checksum
  file.write(image);

  std::optional<ckpt::Recovered> r;
  try {
    nvm::Store store(file.path(), kPages * nvm::kPage, vcpus, false, false);
    r = ckpt::recover(store, vcpus);
  } catch (const Error&) {
    return 0;  // refused (fuzz_nvm checks that a refused file is left as it was)
  }
  if (!r) broken("a committed checkpoint was not recovered");
  if (r->state != state) broken("the recovered state is not the saved one");
  if (r->state.size() < sl.total(vcpus)) broken("recover() accepted a state shorter than its fixed parts");
  uint64_t device_bytes = 0;
  std::memcpy(&device_bytes, r->state.data() + sl.devices(vcpus), 8);
  if (device_bytes != r->state.size() - sl.total(vcpus)) broken("recover() accepted a wrong device byte count");
  load(r->state, vcpus);
  fuzz::tap_wire().rx.clear();
  fuzz::tap_wire().tx.clear();
  return 0;
}
