// The built-in network peer (net::KvPeer) against kvd's own request parser
// (guest/user/kvd_proto.h, built for the host): its frames are well-formed
// UDP that kvd answers; only an "OK" counts as acknowledged; after a power
// failure it reads back what was acknowledged and flags a lost or changed
// value, while a SET unanswered at the failure may read back either way.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "user/kvd_proto.h"
#include "vmm/net/kv_peer.h"

using hsls::net::KvPeer;

namespace {

uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

// The IPv4 header's checksum over itself: 0 when it is right.
uint16_t fold(const uint8_t* h) {
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += get16(h + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

// The payload of a peer frame, checked to be UDP 10.77.0.1:40000 -> 10.77.0.2:7000 at the guest's MAC.
std::string payload_of(const std::vector<uint8_t>& f, const uint8_t* guest_mac) {
  REQUIRE(f.size() >= 42);
  CHECK(std::memcmp(f.data(), guest_mac, 6) == 0);
  CHECK(get16(f.data() + 12) == 0x0800);
  const uint8_t* ip = f.data() + 14;
  CHECK(ip[0] == 0x45);
  CHECK(ip[9] == 17);
  CHECK(fold(ip) == 0);
  CHECK(get16(ip + 2) == f.size() - 14);
  const uint8_t* udp = ip + 20;
  CHECK(get16(udp) == KvPeer::kPeerPort);
  CHECK(get16(udp + 2) == 7000);
  CHECK(get16(udp + 4) == f.size() - 34);
  return std::string(reinterpret_cast<const char*>(udp + 8), f.size() - 42);
}

// kvd's answer to `req` as the guest's stack sends it: the request's frame with addresses swapped.
std::vector<uint8_t> reply_frame(const std::vector<uint8_t>& req, const std::string& text) {
  std::vector<uint8_t> f(42 + text.size());
  std::memcpy(f.data(), req.data(), 42);
  std::memcpy(f.data() + 42, text.data(), text.size());
  std::memcpy(f.data(), req.data() + 6, 6);
  std::memcpy(f.data() + 6, req.data(), 6);
  std::memcpy(f.data() + 14 + 12, req.data() + 14 + 16, 4);
  std::memcpy(f.data() + 14 + 16, req.data() + 14 + 12, 4);
  std::memcpy(f.data() + 34, req.data() + 36, 2);
  std::memcpy(f.data() + 36, req.data() + 34, 2);
  uint16_t ulen = uint16_t(8 + text.size()), total = uint16_t(28 + text.size());
  f[14 + 2] = uint8_t(total >> 8), f[14 + 3] = uint8_t(total);
  f[38] = uint8_t(ulen >> 8), f[39] = uint8_t(ulen);
  return f;
}

struct Wire {
  KvPeer::Options opt;
  KvPeer peer;
  explicit Wire(uint64_t seed) : opt(options(seed)), peer(opt) {
    std::memset(buckets, 0, sizeof buckets);  // kvd's table starts empty for every test
    free_list = top = nkeys = 0;
  }
  static KvPeer::Options options(uint64_t seed) {
    KvPeer::Options o;
    o.seed = seed;
    o.guest_mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    return o;
  }
  // Every frame the peer has for the guest.
  std::vector<std::vector<uint8_t>> take() {
    std::vector<std::vector<uint8_t>> out;
    uint8_t buf[2048];
    for (size_t n; (n = peer.read(buf, sizeof buf)) > 0;) out.emplace_back(buf, buf + n);
    return out;
  }
  // kvd answers every waiting request; returns how many.
  size_t serve() {
    size_t n = 0;
    for (auto& f : take()) {
      std::string req = payload_of(f, opt.guest_mac.data());
      char out[REPLY_MAX];
      u32 len = answer(req.data(), u32(req.size()), out);
      REQUIRE(len > 0);
      auto r = reply_frame(f, std::string(out, len));
      CHECK(peer.write(r.data(), r.size()));
      ++n;
    }
    return n;
  }
};

}  // namespace

TEST_CASE("the peer keeps SETs in flight and counts kvd's OKs as acknowledged") {
  Wire w(7);
  auto first = w.take();
  CHECK(first.size() == 4);  // the window
  for (auto& f : first) CHECK(payload_of(f, w.opt.guest_mac.data()).find(" SET k") != std::string::npos);
  for (auto& f : first) {
    auto r = reply_frame(f, payload_of(f, w.opt.guest_mac.data()).substr(0, payload_of(f, w.opt.guest_mac.data()).find(' ')) + " OK");
    w.peer.write(r.data(), r.size());
  }
  CHECK(w.peer.stats().sets_acked == 4);
  for (int i = 0; i < 20; ++i) CHECK(w.serve() == 4);  // each answer lets one more go
  CHECK(w.peer.stats().sets_acked == 84);
  CHECK(w.peer.verified());
  CHECK(w.peer.violation().empty());
}

TEST_CASE("after a power failure the peer reads back what kvd acknowledged") {
  Wire w(8);
  for (int i = 0; i < 10; ++i) w.serve();
  unsigned called = 0;
  w.peer.on_verified([&] { ++called; });
  w.peer.power_lost();  // four SETs were in flight, unanswered
  CHECK_FALSE(w.peer.verified());
  auto frames = w.take();
  size_t gets = 0;
  for (auto& f : frames) gets += payload_of(f, w.opt.guest_mac.data()).find(" GET k") != std::string::npos;
  CHECK(gets == frames.size());  // only reads while checking
  CHECK(gets >= 4 + 1);          // the unanswered four, and acknowledged keys
  // kvd never saw the unanswered SETs (lost with their epoch): NOTFOUND is right for them.
  for (auto& f : frames) {
    std::string req = payload_of(f, w.opt.guest_mac.data());
    char out[REPLY_MAX];
    u32 len = answer(req.data(), u32(req.size()), out);
    auto r = reply_frame(f, std::string(out, len));
    w.peer.write(r.data(), r.size());
  }
  CHECK(w.peer.verified());
  CHECK(called == 1);
  CHECK(w.peer.violation().empty());
  CHECK(w.peer.stats().reads_checked == gets);
  CHECK(w.serve() == 4);  // writing again
}

TEST_CASE("an acknowledged value that reads back missing or changed is a violation") {
  for (std::string wrong : {"NOTFOUND", "VALUE something-else"}) {
    Wire w(9);
    for (int i = 0; i < 3; ++i) w.serve();
    w.peer.power_lost();
    auto frames = w.take();
    REQUIRE_FALSE(frames.empty());
    for (auto& f : frames) {
      std::string req = payload_of(f, w.opt.guest_mac.data());
      std::string id = req.substr(0, req.find(' '));
      auto r = reply_frame(f, id + " " + wrong);  // kvd "forgot" everything
      w.peer.write(r.data(), r.size());
    }
    std::string v = w.peer.violation();
    CHECK(v.find("was acknowledged as") != std::string::npos);
    CHECK(v.find(wrong == "NOTFOUND" ? "as missing" : "something-else") != std::string::npos);
  }
}

TEST_CASE("a SET unanswered at the failure may read back as sent or missing, nothing else") {
  Wire w(10);
  auto inflight = w.take();  // four SETs that kvd never answers
  REQUIRE(inflight.size() == 4);
  std::string set = payload_of(inflight[0], w.opt.guest_mac.data());  // "sN SET kN VALUE"
  auto k0 = set.find(" SET ") + 5, k1 = set.find(' ', k0);
  std::string key = set.substr(k0, k1 - k0), value = set.substr(k1 + 1);
  w.peer.power_lost();
  auto frames = w.take();
  CHECK(frames.size() == 4);
  for (auto& f : frames) {
    std::string req = payload_of(f, w.opt.guest_mac.data());
    std::string id = req.substr(0, req.find(' '));
    bool mine = req.find(" GET " + key) != std::string::npos;
    auto r = reply_frame(f, id + (mine ? " VALUE " + value : " NOTFOUND"));
    w.peer.write(r.data(), r.size());
  }
  CHECK(w.peer.violation().empty());
  CHECK(w.peer.verified());
  // Now it counts as acknowledged: read back changed after the next failure, it is a violation.
  for (auto& f : w.take()) (void)f;  // the new SETs go unanswered
  w.peer.power_lost();
  bool asked = false;
  for (auto& f : w.take()) {
    std::string req = payload_of(f, w.opt.guest_mac.data());
    std::string id = req.substr(0, req.find(' '));
    bool mine = req.find(" GET " + key) != std::string::npos;
    asked = asked || mine;
    auto r = reply_frame(f, id + (mine ? " VALUE changed" : " NOTFOUND"));
    w.peer.write(r.data(), r.size());
  }
  CHECK(asked);  // in the sample: it is the only acknowledged key
  CHECK(w.peer.violation().find(key) != std::string::npos);
}

TEST_CASE("unanswered requests are sent again after a few commits, under the same id") {
  Wire w(11);
  for (uint64_t v = 1; v <= 5; ++v) w.peer.committed(100 + v);  // not taken by the guest yet: not resent
  CHECK(w.peer.stats().resends == 0);
  auto first = w.take();
  REQUIRE(first.size() == 4);  // each once
  w.peer.committed(1);
  w.peer.committed(2);
  CHECK(w.take().empty());
  w.peer.committed(3);
  auto again = w.take();
  REQUIRE(again.size() == 4);
  for (size_t i = 0; i < 4; ++i) CHECK(payload_of(again[i], w.opt.guest_mac.data()) == payload_of(first[i], w.opt.guest_mac.data()));
  CHECK(w.peer.stats().resends == 4);
  // Answering both copies acknowledges once; the second answer is late.
  for (auto* batch : {&first, &again})
    for (auto& f : *batch) {
      std::string req = payload_of(f, w.opt.guest_mac.data());
      auto r = reply_frame(f, req.substr(0, req.find(' ')) + " OK");
      w.peer.write(r.data(), r.size());
    }
  CHECK(w.peer.stats().sets_acked == 4);
  CHECK(w.peer.stats().late == 4);
}

TEST_CASE("the peer's requests are a function of its seed") {
  Wire a(21), b(21), c(22);
  auto fa = a.take(), fb = b.take(), fc = c.take();
  CHECK(fa == fb);
  CHECK(fa != fc);
}
