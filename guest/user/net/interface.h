// A network interface: one virtio-net device with a static IPv4 address, the
// receive loop that hands each frame to ARP or IPv4, the ARP cache, UDP port
// bindings and counters. Single-threaded (the loop's thread sends too);
// counters may be read from other threads.
#pragma once
#include "user/net/arp.h"
#include "user/net/virtio_net.h"

namespace net {

struct StackCounters {
  u64 arp_in = 0, arp_replies = 0;  // ARP frames for us; replies we sent
  u64 icmp_echo = 0;                // echo requests answered
  u64 udp_in = 0, udp_out = 0;      // datagrams delivered to a binding; sent
  u64 udp_unbound = 0;              // datagrams to a port nobody bound
  u64 bad = 0;                      // malformed: lengths, checksums, versions
  u64 ignored = 0;                  // not for us, fragments, other protocols
  u64 tx_dropped = 0;               // no transmit buffer free
};

// A received UDP datagram and where to send the answer.
struct UdpDatagram {
  const u8* data;
  u32 len;
  u8 src_mac[6];
  u32 src_ip;
  uint16_t src_port, dst_port;
};

class Interface;
using UdpHandler = void (*)(Interface& ifc, const UdpDatagram& d, void* ctx);

class Interface {
 public:
  static constexpr unsigned MAX_BINDINGS = 4;

  // Uses `dev` (already open) with address `ip` (host order).
  void init(VirtioNet* dev, u32 ip);

  // Delivers datagrams to `port` to handler(ctx); false if the table is full.
  bool bind(uint16_t port, UdpHandler handler, void* ctx);

  // Handles every frame received so far; returns how many.
  unsigned poll();

  // Waits for frames (see VirtioNet::wait), handles them, restarts the device
  // if it reported DEVICE_NEEDS_RESET. Returns the frames handled.
  unsigned run_once(u64 poll_us, u64 timeout_us);

  // Sends a UDP datagram from `src_port` to `dst_ip`:`dst_port` at `dst_mac`. False if no buffer was free.
  bool udp_send(const u8* dst_mac, u32 dst_ip, uint16_t src_port, uint16_t dst_port, const void* data, u32 len);

  // Answers datagram `d` (to its source, from its destination port).
  bool udp_reply(const UdpDatagram& d, const void* data, u32 len) {
    return udp_send(d.src_mac, d.src_ip, d.dst_port, d.src_port, data, len);
  }

  VirtioNet& dev() { return *dev_; }
  u32 ip() const { return ip_; }
  const u8* mac() const { return dev_->mac(); }

  ArpCache arp;
  StackCounters counters;

  // For the protocol handlers: the UDP binding for `port`, or nullptr.
  struct Binding {
    uint16_t port;
    UdpHandler handler;
    void* ctx;
  };
  const Binding* binding(uint16_t port) const;

 private:
  void input(const u8* frame, u32 len);

  VirtioNet* dev_ = nullptr;
  u32 ip_ = 0;
  Binding bindings_[MAX_BINDINGS] = {};
  unsigned nbindings_ = 0;
};

}  // namespace net
