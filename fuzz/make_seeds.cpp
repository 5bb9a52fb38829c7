// Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/seed-*):
//   build-fuzz/fuzz/fuzz_make_seeds SOURCE_ROOT
// Each seed is an input in its target's own format (see each fuzz_*.cpp):
// well-formed cases that reach deep (a file with a committed checkpoint, a
// driver that brings a device up and offers chains), and the known hostile
// cases (issue 15). Regression inputs of findings are added next to them by
// hand (regress-*), never generated.
#include <elf.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ckpt/state.h"
#include "fuzz/nvm_image.h"
#include "nvm/journal.h"
#include "nvm/layout.h"
#include "tests/unit/elf_builder.h"
#include "vmm/devices/virtio/net.h"
#include "vmm/devices/virtio/virtio.h"
#include "vmm/net/hold_queue.h"

namespace fs = std::filesystem;
using namespace hsls;

namespace {

fs::path g_root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::path dir = g_root / "fuzz" / "corpus" / target;
  fs::create_directories(dir);
  std::ofstream out(dir / ("seed-" + name), std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}
std::string str(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

// An input for FuzzedDataProvider: bytes taken from the front, integers from
// the back (in the order the target consumes them).
struct Fdp {
  std::string front, back;
  // ConsumeIntegralInRange(min, max) giving v (bits: the width of the type).
  Fdp& in(uint64_t min, uint64_t max, uint64_t v, unsigned bits = 64) {
    uint64_t range = max - min, r = v - min;
    unsigned k = 0;
    for (unsigned off = 0; off < bits && (range >> off) > 0; off += 8) ++k;
    for (unsigned i = 0; i < k; ++i) back += char(uint8_t(r >> (8 * (k - 1 - i))));
    return *this;
  }
  Fdp& boolean(bool b) { return in(0, 255, b ? 1 : 0, 8); }
  Fdp& u8(uint8_t v) { return in(0, 0xff, v, 8); }
  Fdp& u16(uint16_t v) { return in(0, 0xffff, v, 16); }
  Fdp& u32(uint32_t v) { return in(0, 0xffffffff, v, 32); }
  Fdp& u64(uint64_t v) { return in(0, UINT64_MAX, v, 64); }
  Fdp& bytes(const std::string& s) {
    front += s;
    return *this;
  }
  // ConsumeRandomLengthString: backslashes doubled, ended by "\\" and one more byte.
  Fdp& random_length_string(const std::string& s, bool last = false) {
    for (char c : s) front += c == '\\' ? std::string("\\\\") : std::string(1, c);
    if (!last) front += "\\x";
    return *this;
  }
  std::string str() const { return front + std::string(back.rbegin(), back.rend()); }
};

// --- elf ---
void elf_seeds() {
  using test::ValidPvh;
  put("elf", "valid-pvh", str(ValidPvh::build().bytes));
  put("elf", "wide-note", str(test::build_elf({{PT_LOAD, 0x100000, test::pattern(0x100, 1), 0},
                                               {PT_NOTE, 0, test::pvh_note(0x100010, true), 0}},
                                              0).bytes));
  put("elf", "section-note",
      str(test::build_elf({{PT_LOAD, 0x100000, test::pattern(0x100, 2), 0x2000}}, 0, test::pvh_note(0x100020)).bytes));
  put("elf", "high-ram", str(test::build_elf({{PT_LOAD, 0x100000, test::pattern(0x40, 3), 0},
                                              {PT_LOAD, (4ull << 30) + 0x1000, test::pattern(0x40, 4), 0x1000},
                                              {PT_NOTE, 0, test::pvh_note(0x100000), 0}},
                                             0).bytes));
  // Many small segments (the overlap check was quadratic), and an overlapping pair.
  std::vector<test::ElfSegmentSpec> many;
  for (unsigned i = 0; i < 256; ++i) many.push_back({PT_LOAD, 0x100000 + 16ull * i, {uint8_t(i)}, 0});
  many.push_back({PT_NOTE, 0, test::pvh_note(0x100000), 0});
  put("elf", "many-segments", str(test::build_elf(many, 0).bytes));
  put("elf", "overlap", str(test::build_elf({{PT_LOAD, 0x100000, test::pattern(0x100, 5), 0},
                                             {PT_LOAD, 0x1000f0, test::pattern(0x100, 6), 0},
                                             {PT_NOTE, 0, test::pvh_note(0x100000), 0}},
                                            0).bytes));
}

// --- config ---
void config_seeds() {
  for (const char* name : {"default.toml", "net.toml"}) {
    std::ifstream f(g_root / "configs" / name, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    put("config", std::string("configs-") + name, std::string(1, '\0') + s.str());
  }
  // toml++ 3.3.0's unreachable and assertions (tests/unit/data/config/): refused before it parses.
  for (const auto& e : fs::directory_iterator(g_root / "tests/unit/data/config")) {
    if (e.path().extension() != ".toml") continue;
    std::ifstream f(e.path(), std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    put("config", "tomlpp-" + e.path().filename().string(), std::string(1, '\0') + s.str());
  }
  auto toml = [](const std::string& name, const std::string& text) { put("config", name, std::string(1, '\0') + text); };
  toml("all-keys",
       "[machine]\nmemory = \"64M\"\nvcpus = 2\npin_vcpus = false\naccel = \"tcg\"\n"
       "[guest]\nimage = \"g.img\"\ncmdline = \"selftest\"\n[nvm]\npath = \"/dev/shm/x.nvm\"\n"
       "[serial]\nconsole = false\nlog = \"s.log\"\n[monitor]\nsocket = \"m.sock\"\n[log]\nlevel = \"warn\"\n"
       "[ckpt]\nenabled = true\ninterval_ms = 0.5\npolicy = \"hybrid\"\nhot_threshold = 2\nhistory = 8\n"
       "neighbours = 4\nhot_lease = 0\ncopier = false\npersistence = \"adr\"\nverify = true\ndirty_log = \"ring\"\n"
       "[power]\nrestart = true\nrestart_delay_ms = 250\n"
       "[net]\ntap = \"tap0\"\nmac = \"52:54:00:12:34:56\"\nexternal_sync = false\nmax_held = 16\n");
  toml("nul-in-tap", "[net]\ntap = \"tap0\\u0000evil\"\n");
  toml("nul-in-path", "[nvm]\npath = \"/dev/shm/a.nvm\\u0000.bak\"\n");
  toml("newline-in-log", "[serial]\nlog = \"a\\nb\"\n");
  toml("long-socket", "[monitor]\nsocket = \"/" + std::string(120, 's') + "\"\n");
  toml("values", "[ckpt]\ninterval_ms = 1e3\nhot_lease = 0x10\nhistory = 0o7\nneighbours = 0b1\n[power]\nrestart_delay_ms = inf\n");
  toml("inline", "machine = { memory = \"32M\", vcpus = 1 }\nnet.mac = \"53:54:00:00:00:01\"\n");
  // The flags' way in: NUL-separated values (fuzz_config.cpp: memory, vcpus, image, nvm, cmdline, monitor, ...).
  std::string f = std::string("\x01") + "256M" + '\0' + "2" + '\0' + "g.img" + '\0' + "/dev/shm/h.nvm" + '\0' + "selftest" +
                  '\0' + "/tmp/m.sock" + '\0' + "s.log" + '\0' + "debug" + '\0' + "2.5" + '\0' + "cow" + '\0' + "adr" +
                  '\0' + "bitmap" + '\0' + "100" + '\0' + "kvm" + '\0' + "tap1" + '\0' + "02:00:00:00:00:01";
  put("config", "flags", f);
  put("config", "flags-memory-overflow", std::string("\x01") + "18446744073709551615G");
}

// --- monitor ---
// Lines fed in chunks of `chunk` bytes, with line limit `max` (0: the real one).
std::string monitor_input(const std::string& text, size_t max, bool restart, size_t chunk = 64) {
  Fdp f;
  f.boolean(max == 0);
  if (max) f.in(0, 64, max);
  f.boolean(restart);
  for (size_t at = 0; at < text.size(); at += chunk) {
    std::string part = text.substr(at, chunk);
    f.in(1, 64, part.size()).bytes(part);
  }
  return f.str();
}

void monitor_seeds() {
  put("monitor", "commands",
      monitor_input("help\ninfo status\ninfo ckpt\npause\nresume\nx 0x100000 16\nx/i rip@1 4\nx/i 0x100000 8\n"
                    "checkpoint\nset ckpt-interval 5\nset ckpt-policy cow\nquit\n",
                    0, false));
  put("monitor", "serial", monitor_input("serial ledger verify\nserial e\n  serial   a  b\t\nserial\n", 0, false, 7));
  put("monitor", "powerfail",
      monitor_input("powerfail\npowerfail restart at=committed#3\npowerfail at=stopped\npowerfail after=250.5\n"
                    "powerfail after=\npowerfail after=-1\npowerfail after=nan\npowerfail at=restored#0\n"
                    "powerfail at=bogus after=5\n",
                    0, true, 13));
  put("monitor", "numbers", monitor_input("x 0xffffffffffffffff 18446744073709551616\nx 0x 00x5 +5 0X1f 1e3\n", 0, false, 5));
  // A refused over-long line: nothing of it may run (the tail "pause" least of all).
  put("monitor", "too-long", monitor_input("x" + std::string(20, ' ') + "pause\nhelp\n", 8, false, 3));
  put("monitor", "crlf", monitor_input("help\r\n12345678\r\n123456789\r\n\r\n\n", 8, false, 4));
}

// --- hold queue ---
void hold_queue_seeds() {
  Fdp f;
  f.in(1, 256, 4);
  auto push = [&](uint64_t epoch, size_t len) {
    f.in(0, 1u << 20, 1000).in(0, 4, 0).u64(epoch).in(0, net::HoldQueue::kMaxFrameBytes, len);
    f.bytes(std::string(len, char(0x40 + len % 26)));
  };
  push(5, 60);
  push(5, 1518);
  push(6, 0);
  f.in(0, 1u << 20, 500).in(0, 4, 2);  // round trip
  f.in(0, 1u << 20, 500).in(0, 4, 1).u64(5);  // release epoch 5
  f.in(0, 1u << 20, 500).in(0, 4, 4);
  put("hold_queue", "push-release", f.str());

  // Saved frames, as a checkpoint holds them, then the hostile ones of issue 15.
  net::HoldQueue q(256);
  q.push(3, std::vector<uint8_t>(64, 0xab), 0);
  q.push(4, std::vector<uint8_t>(1518, 0xcd), 0);
  std::vector<uint8_t> saved;
  q.serialize(saved);
  auto restore = [&](const std::string& name, std::vector<uint8_t> bytes) {
    Fdp r;
    r.in(1, 256, 256).in(0, 1u << 20, 0).in(0, 4, 3).in(0, 4096, bytes.size()).bytes(str(bytes));
    put("hold_queue", name, r.str());
  };
  restore("restore", saved);
  auto trailing = saved;
  trailing.push_back(0);
  restore("restore-trailing-byte", trailing);
  std::vector<uint8_t> big(4 + 8 + 4, 0);
  big[0] = 1;
  uint32_t len = 1519;
  std::memcpy(big.data() + 12, &len, 4);
  big.resize(big.size() + len, 0x11);
  restore("restore-frame-1519", std::vector<uint8_t>(big.begin(), big.begin() + std::min<size_t>(big.size(), 4096)));
}

// --- the built-in network peer ---
void kv_peer_seeds() {
  Fdp f;
  f.u64(7);
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 4; ++i) f.in(0, 5, 0).in(1, 2048, 2048);  // the guest takes a frame
    f.in(0, 5, 1);                                                 // kvd answers what it took
    f.in(0, 5, 4);                                                 // a commit
    if (round == 2) f.in(0, 5, 5);                                 // the power fails
  }
  put("kv_peer", "honest", f.str());
  Fdp h;  // a guest that answers with lies and junk
  h.u64(8).in(0, 5, 0).in(1, 2048, 2048).in(0, 5, 3).random_length_string("s0 OK");
  h.in(0, 5, 5).in(0, 5, 0).in(1, 2048, 2048).in(0, 5, 3).random_length_string("g4 VALUE not-what-was-set");
  h.in(0, 5, 2).in(0, 1600, 60).bytes(std::string(60, '\x08'));
  h.in(0, 5, 0).in(1, 2048, 30);
  put("kv_peer", "hostile", h.str());
}

// --- kvd ---
void kvd_seeds() {
  Fdp f;
  f.in(0, 31, 1);
  for (const char* d : {"1 SET greeting hello\n", "2 GET greeting", "3 SET k a value with spaces", "4 GET k\n", "5 DEL k",
                        "6 DEL k", "7 GET nope", "8 STATS", "9 SET \xcf\xbb \xcf\xbb", "10 SET empty ", "11 GET empty",
                        "x BOGUS", "y SET", "z GET ", " SET a b", "12 STATS extra"})
    f.random_length_string(d);
  f.random_length_string("13 SET v " + std::string(1024, 'v'));
  f.random_length_string("14 SET w " + std::string(1025, 'w'), true);
  put("kvd", "protocol", f.str());
  Fdp full;
  full.in(0, 31, 0);  // a table filled to capacity
  full.random_length_string("1 SET new x").random_length_string("2 DEL \xff" "7").random_length_string("3 SET new x");
  full.random_length_string("4 GET \xff" "16383").random_length_string("5 STATS", true);
  put("kvd", "full-table", full.str());
}

// --- nvm ---
// fuzz_nvm's input: the file (pages, vCPUs, G), flags, patches.
struct NvmSeed {
  uint64_t pages = 4;
  unsigned vcpus = 1;
  unsigned g_index = 1;  // into {0, 1, 2, 3, 63, 64, 65, 1000}
  uint8_t flags = 0;
  uint64_t open_pages = 0;
  unsigned open_vcpus = 0;
  struct Patch {
    unsigned area;
    bool u64;
    unsigned value_index = 0;
    uint64_t any = 0;   // the value when value_index is 12
    uint64_t off = 0;   // in units of 8 bytes (u64) or bytes
    std::string bytes;
  };
  std::vector<Patch> patches;

  std::string str() const {
    static const uint64_t versions[] = {0, 1, 2, 3, 63, 64, 65, 1000};
    uint64_t g = versions[g_index];
    nvm::Layout l = nvm::compute_layout(pages * nvm::kPage);
    Fdp f;
    f.in(1, 16, pages).in(1, 2, vcpus).in(0, 7, g_index).u8(flags);
    if (flags & 0x10) f.in(1, 17, open_pages);
    if (flags & 0x20) f.in(1, 3, open_vcpus);
    f.in(0, 8, patches.size());
    const uint64_t lens[] = {sizeof(nvm::Superblock), 8, nvm::kJournalRecords * 256, 256, 4096, 4096, pages * 16,
                             pages * nvm::kPage, pages * 2 * nvm::kPage, l.file_bytes};
    (void)g;
    for (const Patch& p : patches) {
      f.in(0, 9, p.area).boolean(p.u64);
      if (p.u64) {
        f.u64(p.any).in(0, 12, p.value_index).in(0, (lens[p.area] - 1) / 8, p.off);
      } else {
        f.in(0, lens[p.area] - 1, p.off).in(1, 32, p.bytes.size()).bytes(p.bytes);
      }
    }
    return f.str();
  }
};

void nvm_seeds() {
  for (unsigned gi : {0u, 1u, 2u, 4u, 7u}) {
    NvmSeed s;
    s.g_index = gi;
    s.pages = 5;
    put("nvm", "clean-g" + std::to_string(gi), s.str());
  }
  NvmSeed two;
  two.vcpus = 2;
  two.g_index = 3;
  put("nvm", "clean-2vcpus", two.str());
  // Commit word near 2^64 with its record made right: refused by name (fac56a0).
  NvmSeed huge;
  huge.flags = 0x02 | 0x04;
  huge.patches.push_back({1, true, 12, UINT64_MAX - 1, 0, ""});
  put("nvm", "commit-near-2pow64", huge.str());
  NvmSeed max;
  max.flags = 0x02 | 0x04;
  max.patches.push_back({1, true, 7, 0, 0, ""});  // kMaxVersion + 1
  put("nvm", "commit-above-max", max.str());
  NvmSeed next;  // commit word = G+1: a record that is not there
  next.patches.push_back({1, true, 4, 0, 0, ""});
  put("nvm", "commit-next", next.str());
  NvmSeed sb;  // a geometry field changed, superblock resealed
  sb.flags = 0x01;
  sb.patches.push_back({0, true, 12, 12345, 3, ""});
  put("nvm", "superblock-geometry", sb.str());
  NvmSeed magic;
  magic.patches.push_back({0, false, 0, 0, 0, "XXXX"});
  put("nvm", "superblock-magic", magic.str());
  NvmSeed slot;  // the record names the other state slot, resealed
  slot.flags = 0x02 | 0x04;
  slot.patches.push_back({3, true, 9, 0, 2, ""});  // state_offset (word 2) = l.state[0]
  put("nvm", "record-other-slot", slot.str());
  NvmSeed bytes;  // state_bytes above the slot, resealed
  bytes.flags = 0x02;
  bytes.patches.push_back({3, true, 12, nvm::kStateSlotBytes + 8, 3, ""});
  put("nvm", "record-state-bytes", bytes.str());
  NvmSeed tags;  // tags of G+2 and 2^64-1 in both slots
  tags.patches.push_back({6, true, 5, 0, 1, ""});
  tags.patches.push_back({6, true, 8, 0, 2, ""});
  tags.patches.push_back({6, true, 3, 0, 4, ""});
  put("nvm", "tags", tags.str());
  NvmSeed cut;
  cut.flags = 0x08;
  {
    // The cut (0..file size) is consumed right after the flags, before the patch count.
    Fdp f;
    f.in(1, 16, 4).in(1, 2, 1).in(0, 7, 1).u8(0x08).in(0, nvm::compute_layout(4 * nvm::kPage).file_bytes, 3 << 20).in(0, 8, 0);
    put("nvm", "cut-short", f.str());
  }
  NvmSeed other;
  other.flags = 0x10 | 0x20;
  other.open_pages = 8;
  other.open_vcpus = 2;
  put("nvm", "other-size", other.str());
}

// --- saved state: recover, net restore ---
// A virtio-net state: the driver set up both queues in the first 64 KiB, frames held.
std::vector<uint8_t> net_state(std::vector<std::vector<uint8_t>> frames, bool ready = true) {
  virtio::NetState st;
  const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  std::memcpy(st.mac, mac, 6);
  st.link = virtio::kNetLinkUp;
  st.mmio.status = virtio::kAcknowledge | virtio::kDriver | virtio::kFeaturesOk | virtio::kDriverOk;
  st.mmio.driver_features = virtio::kFVersion1 | virtio::kNetFMac;
  for (unsigned q = 0; q < 2; ++q) {
    auto& qs = st.mmio.queues[q];
    qs.num = 8;
    qs.ready = ready;
    qs.desc = 0x1000 + q * 0x3000;
    qs.avail = qs.desc + 0x1000;
    qs.used = qs.desc + 0x2000;
  }
  net::HoldQueue hq(256);
  for (auto& f : frames) hq.push(7, f, 0);
  std::vector<uint8_t> held;
  hq.serialize(held);
  st.held_bytes = held.size();
  std::vector<uint8_t> out(sizeof st);
  std::memcpy(out.data(), &st, sizeof st);
  out.insert(out.end(), held.begin(), held.end());
  return out;
}

void state_seeds() {
  auto recover_seed = [](const std::string& name, unsigned vcpus, std::vector<uint8_t> devices, uint8_t flags = 0) {
    std::string s(1, char((vcpus - 1) | flags));
    s += str(fuzz::valid_state(vcpus, 7, devices));
    put("recover", name, s);
  };
  recover_seed("1vcpu", 1, {});
  recover_seed("2vcpus", 2, {});
  recover_seed("1vcpu-net", 1, net_state({std::vector<uint8_t>(60, 0x11), std::vector<uint8_t>(1518, 0x22)}));
  recover_seed("2vcpus-net-idle", 2, net_state({}, false));
  recover_seed("1vcpu-header-fixed", 1, {}, 0x02 | 0x04);

  put("net_restore", "idle", str(net_state({}, false)));
  put("net_restore", "live-with-frames", str(net_state({std::vector<uint8_t>(60, 0x11), std::vector<uint8_t>(1518, 0x22)})));
  auto trailing = net_state({std::vector<uint8_t>(60, 0x11)});
  trailing.push_back(0);  // bytes after the last frame (a5106a8)
  put("net_restore", "trailing-byte", str(trailing));
  auto big = net_state({std::vector<uint8_t>(1519, 0x33)});  // a frame TX never queues (a5106a8)
  put("net_restore", "frame-1519", str(big));
  auto bad_ring = net_state({});
  virtio::NetState st;
  std::memcpy(&st, bad_ring.data(), sizeof st);
  st.mmio.queues[1].num = 6;  // not a power of two, on a ready queue
  st.mmio.queues[0].used = 0xfffffffffff0ull;
  std::memcpy(bad_ring.data(), &st, sizeof st);
  put("net_restore", "bad-rings", str(bad_ring));
}

// --- virtqueue / virtio-net: a driver bringing the device up ---
constexpr uint32_t kRegs[] = {virtio::kDeviceFeaturesSel, virtio::kDriverFeatures, virtio::kDriverFeaturesSel,
                              virtio::kQueueSel,          virtio::kQueueNum,       virtio::kQueueReady,
                              virtio::kQueueNotify,       virtio::kInterruptAck,   virtio::kStatus,
                              virtio::kQueueDescLow,      virtio::kQueueDescHigh,  virtio::kQueueDriverLow,
                              virtio::kQueueDriverHigh,   virtio::kQueueDeviceLow, virtio::kQueueDeviceHigh,
                              virtio::kMagicValue,        virtio::kDeviceFeatures, virtio::kQueueNumMax,
                              virtio::kInterruptStatus,   virtio::kConfigGeneration, virtio::kConfig};

unsigned reg_index(uint32_t reg) {
  for (unsigned i = 0; i < std::size(kRegs); ++i)
    if (kRegs[i] == reg) return i;
  return 0;
}

// Ops shared by fuzz_virtqueue (ops 0-6) and fuzz_virtio_net (ops 0-8), same numbering for 0-4.
struct Driver {
  Fdp f;
  int max_op;
  explicit Driver(int max) : max_op(max) {}
  void write(uint32_t reg, uint32_t v) {
    f.in(0, max_op, 0).boolean(true).in(0, std::size(kRegs) - 1, reg_index(reg)).boolean(true);
    if (v <= 300) f.boolean(true).in(0, 300, v, 32);
    else f.boolean(false).u32(v);
  }
  void read(uint32_t reg) {
    f.in(0, max_op, 1).boolean(true).in(0, std::size(kRegs) - 1, reg_index(reg)).in(0, 3, 2);
  }
  void setup() {
    write(virtio::kStatus, virtio::kAcknowledge);
    write(virtio::kStatus, virtio::kAcknowledge | virtio::kDriver);
    read(virtio::kDeviceFeatures);
    write(virtio::kDriverFeaturesSel, 1);
    write(virtio::kDriverFeatures, 1);  // VERSION_1
    write(virtio::kStatus, virtio::kAcknowledge | virtio::kDriver | virtio::kFeaturesOk);
    for (unsigned q = 0; q < 2; ++q) {
      write(virtio::kQueueSel, q);
      write(virtio::kQueueNum, 8);
      write(virtio::kQueueDescLow, 0x1000 + q * 0x3000);
      write(virtio::kQueueDriverLow, 0x2000 + q * 0x3000);
      write(virtio::kQueueDeviceLow, 0x3000 + q * 0x3000);
      write(virtio::kQueueReady, 1);
    }
    write(virtio::kStatus, virtio::kAcknowledge | virtio::kDriver | virtio::kFeaturesOk | virtio::kDriverOk);
  }
  // ops 3 (descriptor) and 4 (offer); `virtio_net`: its descriptor op takes ranged values.
  void desc(unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next, bool net) {
    f.in(0, max_op, 3).in(0, 1, q).in(0, 255, i);
    if (net) {
      f.in(0, 64 * 1024, addr).in(0, 2048, len, 32);
    } else {
      f.boolean(true).in(0, 1024 * 1024, addr).boolean(true).in(0, 4096, len, 32);
    }
    f.in(0, 7, flags, 16).in(0, 300, next, 16);
  }
  void offer(unsigned q, uint16_t head) { f.in(0, max_op, 4).in(0, 1, q).in(0, 300, head, 16).boolean(true); }
};

void virtio_seeds() {
  {  // fuzz_virtqueue: RAM 1 MiB; a TX-like chain and an RX-like chain, run, notify, reset
    Driver d(6);
    d.f.in(0, 1, 1);
    d.setup();
    d.desc(1, 0, 0x10000, 12, virtio::kDescNext, 1, false);
    d.desc(1, 1, 0x10100, 60, 0, 0, false);
    d.offer(1, 0);
    d.desc(0, 0, 0x20000, 1526, virtio::kDescWrite, 0, false);
    d.offer(0, 0);
    d.write(virtio::kQueueNotify, 1);
    d.f.in(0, 6, 5).in(0, 1, 1).boolean(false).u32(12);
    d.f.in(0, 6, 5).in(0, 1, 0).boolean(false).u32(100);
    d.f.in(0, 6, 6);
    d.desc(1, 2, 0x10000, 16, virtio::kDescNext, 2, false);  // a loop
    d.offer(1, 2);
    d.f.in(0, 6, 5).in(0, 1, 1);
    d.write(virtio::kStatus, 0);
    put("virtqueue", "driver", d.f.str());
  }
  {  // fuzz_virtio_net: external sync, 256 held; a frame sent, a checkpoint, a frame received, a power failure
    Driver d(8);
    d.f.in(0, 7, 1).in(1, 256, 256);
    d.setup();
    d.desc(1, 0, 0x8000, 12, virtio::kDescNext, 1, true);
    d.desc(1, 1, 0x8100, 60, 0, 0, true);
    d.offer(1, 0);
    d.desc(0, 0, 0x9000, 1526, virtio::kDescWrite, 0, true);
    d.offer(0, 0);
    d.f.in(0, 8, 6);  // TX -> hold queue
    d.f.in(0, 8, 7);  // checkpoint
    d.f.in(0, 8, 6);  // released -> tap
    d.f.in(0, 8, 5).in(1, 2048, 60).bytes(std::string(60, 'E'));
    d.f.in(0, 8, 6);  // tap -> RX
    d.desc(1, 2, 0x8200, 12, virtio::kDescNext, 3, true);
    d.desc(1, 3, 0x8300, 100, 0, 0, true);
    d.offer(1, 2);
    d.f.in(0, 8, 6);
    d.f.in(0, 8, 8);  // power failure: the held frame is lost, the checkpoint's state comes back
    d.f.in(0, 8, 6);
    put("virtio_net", "driver", d.f.str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SOURCE_ROOT\n", argv[0]);
    return 2;
  }
  fuzz::silence_logs();
  g_root = argv[1];
  elf_seeds();
  config_seeds();
  monitor_seeds();
  hold_queue_seeds();
  kvd_seeds();
  kv_peer_seeds();
  nvm_seeds();
  state_seeds();
  virtio_seeds();
  return 0;
}
