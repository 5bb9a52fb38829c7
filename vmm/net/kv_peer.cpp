#include "vmm/net/kv_peer.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace hsls::net {
namespace {

constexpr size_t kEthHdr = 14, kIpHdr = 20, kUdpHdr = 8;
constexpr uint16_t kEtherIpv4 = 0x0800, kEtherArp = 0x0806;

uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, uint16_t(v >> 16));
  put16(p + 2, uint16_t(v));
}

// The Internet checksum of an IPv4 header.
uint16_t ip_checksum(const uint8_t* h, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += get16(h + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

uint64_t splitmix(uint64_t& s) {
  uint64_t x = (s += 0x9e3779b97f4a7c15ull);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

KvPeer::KvPeer(const Options& opt) : opt_(opt), rng_(opt.seed) { fill_window(); }

size_t KvPeer::read(uint8_t* buf, size_t cap) {
  std::lock_guard lock(mu_);
  if (to_guest_.empty()) return 0;
  auto& [id, f] = to_guest_.front();
  size_t n = std::min(cap, f.size());
  std::memcpy(buf, f.data(), n);
  if (auto it = in_flight_.find(id); it != in_flight_.end()) {
    it->second.queued = false;
    it->second.sent_tick = tick_;
  }
  to_guest_.pop_front();
  ++stats_.frames_out;
  return n;
}

// A frame from the guest: kvd's answer (UDP to our port), or an ARP request for our address.
bool KvPeer::write(const uint8_t* f, size_t len) {
  bool done_verifying = false;
  std::function<void()> fire;
  {
    std::lock_guard lock(mu_);
    ++stats_.frames_in;
    if (len >= kEthHdr + 28 && get16(f + 12) == kEtherArp) {
      arp_reply(f, len);
      return true;
    }
    if (len < kEthHdr + kIpHdr + kUdpHdr || get16(f + 12) != kEtherIpv4) {
      ++stats_.ignored;
      return true;
    }
    const uint8_t* ip = f + kEthHdr;
    if ((ip[0] >> 4) != 4 || ip[9] != 17) {
      ++stats_.ignored;
      return true;
    }
    size_t ihl = size_t(ip[0] & 15) * 4, total = get16(ip + 2);
    if (ihl < kIpHdr || total < ihl + kUdpHdr || kEthHdr + total > len || get32(ip + 16) != kPeerIp) {
      ++stats_.ignored;
      return true;
    }
    const uint8_t* udp = ip + ihl;
    size_t ulen = get16(udp + 4);
    if (get16(udp + 2) != kPeerPort || get16(udp) != opt_.guest_port || ulen < kUdpHdr || ulen > total - ihl) {
      ++stats_.ignored;
      return true;
    }
    std::string text(reinterpret_cast<const char*>(udp + kUdpHdr), ulen - kUdpHdr);
    auto sp = text.find(' ');
    if (sp == std::string::npos) {
      flag("kvd answered without an id: '" + text + "'");
      return true;
    }
    bool was = verifying_;
    answer(text.substr(0, sp), text.substr(sp + 1));
    done_verifying = was && !verifying_;
    if (done_verifying) fire = on_verified_;
    fill_window();
  }
  if (done_verifying && fire) fire();
  return true;
}

// The answer to request `id` (kvd prints the request's id first).
void KvPeer::answer(const std::string& id, const std::string& reply) {
  auto it = in_flight_.find(id);
  if (it == in_flight_.end()) {
    ++stats_.late;  // sent again and answered twice, or asked before a power failure
    return;
  }
  Request r = it->second;
  in_flight_.erase(it);
  if (r.set) {
    if (reply != "OK") return flag(fmt::format("kvd answered '{}' to SET {} (expected OK)", reply, r.key));
    acked_[r.key] = r.value;
    uncertain_.erase(r.key);
    unchecked_.push_back(r.key);
    ++stats_.sets_acked;
  } else {
    check_read(r, reply);
  }
  if (verifying_ && std::none_of(in_flight_.begin(), in_flight_.end(), [](auto& e) { return !e.second.set; }))
    verifying_ = false;
}

// A read-back after a power failure: an acknowledged key must hold what was
// acknowledged; one whose SET was unanswered, that value or nothing. The
// answer itself left only after a commit, so what it says is now durable.
void KvPeer::check_read(const Request& r, const std::string& reply) {
  ++stats_.reads_checked;
  bool found = reply.rfind("VALUE ", 0) == 0;
  if (!found && reply != "NOTFOUND") return flag(fmt::format("kvd answered '{}' to GET {}", reply, r.key));
  std::string got = found ? reply.substr(6) : "";
  auto acked = acked_.find(r.key);
  auto maybe = uncertain_.find(r.key);
  if (acked != acked_.end()) {
    if (!found || got != acked->second)
      return flag(fmt::format("key {} was acknowledged as '{}' but reads back {}", r.key, acked->second,
                              found ? "'" + got + "'" : "as missing"));
  } else if (maybe != uncertain_.end()) {
    if (found && got != maybe->second)
      return flag(fmt::format("key {} was never acknowledged, sent as '{}', but reads back '{}'", r.key, maybe->second, got));
    if (found) acked_[r.key] = got;
    uncertain_.erase(maybe);
  }
}

// Keeps `window` SETs of fresh keys in flight (none while reading back).
void KvPeer::fill_window() {
  if (verifying_ || !violation_.empty()) return;
  while (in_flight_.size() < opt_.window) {
    Request r;
    r.key = fmt::format("k{}", seq_);
    r.value = random_value();
    std::string id = fmt::format("s{}", seq_++);
    ++stats_.sets_sent;
    send(id, r);
  }
}

std::string KvPeer::random_value() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  size_t n = 1 + splitmix(rng_) % 200;
  std::string v(n, 'x');
  for (auto& c : v) c = kChars[splitmix(rng_) % (sizeof kChars - 1)];
  return v;
}

void KvPeer::send(const std::string& id, const Request& r) {
  Request& mine = in_flight_[id];
  mine = r;
  mine.queued = true;
  queue_udp(id, r.set ? fmt::format("{} SET {} {}", id, r.key, r.value) : fmt::format("{} GET {}", id, r.key));
}

// One commit: requests the guest took a while ago and left unanswered are
// sent again (kvd may not have been listening yet, or the frame was rolled
// back with its epoch). One still waiting for the guest to take it is not.
void KvPeer::committed(uint64_t) {
  std::lock_guard lock(mu_);
  ++tick_;
  for (auto& [id, r] : in_flight_) {
    if (r.queued || tick_ - r.sent_tick < opt_.resend_after) continue;
    ++stats_.resends;
    send(id, Request(r));
  }
}

// Power failed: every SET still unanswered may or may not be in the
// checkpoint that recovery brings back. Read back what was acknowledged
// since the last read-back, a sample of older keys and every uncertain one.
void KvPeer::power_lost() {
  std::lock_guard lock(mu_);
  ++stats_.power_losses;
  to_guest_.clear();
  std::vector<std::string> keys = unchecked_;
  unchecked_.clear();
  for (auto& [id, r] : in_flight_) {
    if (r.set) uncertain_[r.key] = r.value;
    else keys.push_back(r.key);  // a read-back cut short: ask again
  }
  in_flight_.clear();
  if (!acked_.empty())
    for (unsigned i = 0; i < opt_.sample; ++i) {
      auto it = acked_.begin();
      std::advance(it, splitmix(rng_) % acked_.size());
      keys.push_back(it->first);
    }
  for (auto& [k, v] : uncertain_) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  verifying_ = !keys.empty();
  for (auto& k : keys) {
    Request r;
    r.set = false;
    r.key = k;
    send(fmt::format("g{}", seq_++), r);
  }
  fill_window();
}

void KvPeer::arp_reply(const uint8_t* f, size_t) {
  const uint8_t* a = f + kEthHdr;
  if (get16(a + 6) != 1 || get32(a + 24) != kPeerIp) {
    ++stats_.ignored;
    return;
  }
  std::vector<uint8_t> out(kEthHdr + 28, 0);
  std::memcpy(out.data(), a + 8, 6);  // to the asker
  std::memcpy(out.data() + 6, kPeerMac.data(), 6);
  put16(out.data() + 12, kEtherArp);
  uint8_t* r = out.data() + kEthHdr;
  std::memcpy(r, a, 6);  // hardware and protocol types and sizes, as asked
  put16(r + 6, 2);
  std::memcpy(r + 8, kPeerMac.data(), 6);
  put32(r + 14, kPeerIp);
  std::memcpy(r + 18, a + 8, 10);  // the asker's MAC and IP
  to_guest_.emplace_back("", std::move(out));
}

// An Ethernet/IPv4/UDP frame from our port to kvd's (UDP checksum 0: none, as IPv4 allows).
void KvPeer::queue_udp(const std::string& id, const std::string& payload) {
  std::vector<uint8_t> f(kEthHdr + kIpHdr + kUdpHdr + payload.size(), 0);
  std::memcpy(f.data(), opt_.guest_mac.data(), 6);
  std::memcpy(f.data() + 6, kPeerMac.data(), 6);
  put16(f.data() + 12, kEtherIpv4);
  uint8_t* ip = f.data() + kEthHdr;
  ip[0] = 0x45;
  put16(ip + 2, uint16_t(kIpHdr + kUdpHdr + payload.size()));
  put16(ip + 4, uint16_t(seq_));
  put16(ip + 6, 0x4000);  // don't fragment
  ip[8] = 64;
  ip[9] = 17;
  put32(ip + 12, kPeerIp);
  put32(ip + 16, opt_.guest_ip);
  put16(ip + 10, ip_checksum(ip, kIpHdr));
  uint8_t* udp = ip + kIpHdr;
  put16(udp, kPeerPort);
  put16(udp + 2, opt_.guest_port);
  put16(udp + 4, uint16_t(kUdpHdr + payload.size()));
  std::memcpy(udp + kUdpHdr, payload.data(), payload.size());
  to_guest_.emplace_back(id, std::move(f));
}

void KvPeer::flag(const std::string& what) {
  if (violation_.empty()) violation_ = what;
}

bool KvPeer::verified() const {
  std::lock_guard lock(mu_);
  return !verifying_;
}

void KvPeer::on_verified(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  on_verified_ = std::move(fn);
}

std::string KvPeer::violation() const {
  std::lock_guard lock(mu_);
  return violation_;
}

nlohmann::json KvPeer::info() const {
  Stats s = stats();
  return {{"sets_sent", s.sets_sent}, {"sets_acked", s.sets_acked}, {"reads_checked", s.reads_checked},
          {"resends", s.resends},     {"power_losses", s.power_losses}, {"frames_in", s.frames_in},
          {"frames_out", s.frames_out}, {"ignored", s.ignored}, {"late", s.late}, {"violation", violation()}};
}

KvPeer::Stats KvPeer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace hsls::net
