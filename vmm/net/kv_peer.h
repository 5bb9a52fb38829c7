// A client of the guest's kvd (docs/kvd-protocol.md) built into the VMM, on
// the far end of the virtio-net cable (`net.peer = "kv"`). It keeps a few
// SETs of fresh keys in flight, and counts a SET as acknowledged only when
// kvd's "OK" reaches it: with external synchrony that happens once the
// checkpoint holding the SET has committed. After each power failure it
// reads back every key acknowledged since its last check and a sample of
// older ones, and flags any answer that differs from what was acknowledged
// (a SET still unanswered at the failure may or may not have happened).
//
// It acts only when the device hands it a frame or a checkpoint commits,
// and draws everything from its seed: on a deterministic machine its
// requests arrive at the same guest instructions every run. It outlives
// the machines it talks to (the crash explorer keeps one across power
// failures), like a client on the network would.
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "vmm/net/link.h"

namespace hsls::net {

class KvPeer : public Link {
 public:
  struct Options {
    uint64_t seed = 1;
    std::array<uint8_t, 6> guest_mac{};
    uint32_t guest_ip = 0x0a4d0002;  // 10.77.0.2, kvd's default
    uint16_t guest_port = 7000;
    unsigned window = 4;        // SETs in flight
    unsigned resend_after = 3;  // commits without an answer before a request is sent again
    unsigned sample = 8;        // older acknowledged keys read back after each power failure
  };
  struct Stats {
    uint64_t sets_sent = 0, sets_acked = 0, reads_checked = 0, resends = 0, power_losses = 0;
    uint64_t frames_in = 0, frames_out = 0, ignored = 0, late = 0;
  };
  static constexpr std::array<uint8_t, 6> kPeerMac = {0x02, 0x00, 0x00, 0x77, 0x00, 0x01};
  static constexpr uint32_t kPeerIp = 0x0a4d0001;  // 10.77.0.1
  static constexpr uint16_t kPeerPort = 40000;

  explicit KvPeer(const Options& opt);

  // Link
  std::string name() const override { return "kv-peer"; }
  int fd() const override { return -1; }
  size_t read(uint8_t* buf, size_t cap) override;
  bool write(const uint8_t* frame, size_t len) override;
  void committed(uint64_t version) override;
  void power_lost() override;
  nlohmann::json info() const override;

  // True once everything to read back after the last power failure was
  // read back (at once on the first power-on).
  bool verified() const;
  // Called (on the thread that delivered the last answer) when a read-back completes.
  void on_verified(std::function<void()> fn);
  // The first answer that contradicted an acknowledgement ("" if none).
  std::string violation() const;
  Stats stats() const;

 private:
  struct Request {
    bool set = true;
    std::string key, value;  // value: what was sent (SET)
    bool queued = true;      // its frame waits in to_guest_ (not resent then)
    uint64_t sent_tick = 0;  // when the guest took its frame
  };
  void fill_window();
  void send(const std::string& id, const Request& r);
  void answer(const std::string& id, const std::string& reply);
  void check_read(const Request& r, const std::string& reply);
  void arp_reply(const uint8_t* frame, size_t len);
  void queue_udp(const std::string& id, const std::string& payload);
  void flag(const std::string& what);
  std::string random_value();

  Options opt_;
  mutable std::mutex mu_;
  uint64_t rng_;
  uint64_t seq_ = 0, tick_ = 0;
  bool verifying_ = false;
  std::map<std::string, Request> in_flight_;       // by request id
  std::map<std::string, std::string> acked_;       // key -> value the guest acknowledged (or was read back)
  std::vector<std::string> unchecked_;             // acknowledged since the last read-back
  std::map<std::string, std::string> uncertain_;   // key -> value of a SET unanswered at a power failure
  std::deque<std::pair<std::string, std::vector<uint8_t>>> to_guest_;  // (request id or "", frame)
  std::function<void()> on_verified_;
  std::string violation_;
  Stats stats_;
};

}  // namespace hsls::net
