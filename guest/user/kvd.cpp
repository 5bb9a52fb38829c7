// kvd: the UDP key-value server of docs/kvd-protocol.md over the guest's own
// virtio-net driver and network stack (user/net/). Its data live in an
// ordinary in-memory hash table: the single-level store persists them.
//
// Arguments (key=value, comma separated): ip=A.B.C.D (10.77.0.2), port=P
// (7000), poll=US how long to poll the receive ring before blocking on the
// interrupt (50). Needs the virtio-net device's capabilities in
// SLOT_DEV_REGS/SLOT_DEV_IRQ (init passes them). Prints
// "kvd: listening on IP:PORT mac=MAC" once it answers.
// Command (serial "kvd report"): prints the counters.
#include "user/net/addr.h"
#include "user/net/interface.h"
#include "user/ulib.h"
#include "user/kvd_proto.h"

namespace {

void on_datagram(net::Interface& ifc, const net::UdpDatagram& d, void*) {
  static char reply[REPLY_MAX];
  u32 n = answer(reinterpret_cast<const char*>(d.data), d.len, reply);
  if (n) ifc.udp_reply(d, reply, n);
}

// --- serial commands ---
net::VirtioNet dev;
net::Interface ifc;

void control(const char* cmd) {
  if (strcmp(cmd, "report")) {
    u::print("kvd: unknown command '%s' (try: report)\n", cmd);
    return;
  }
  const net::NetCounters& d = dev.counters;
  const net::StackCounters& s = ifc.counters;
  u::print("kvd: keys=%u sets=%lu gets=%lu dels=%lu errors=%lu udp_in=%lu udp_out=%lu\n", nkeys, sets, gets, dels,
           errors, s.udp_in, s.udp_out);
  u::print("kvd: rx=%lu tx=%lu arp=%lu/%lu ping=%lu bad=%lu ignored=%lu unbound=%lu tx_dropped=%lu\n", d.rx_frames,
           d.tx_frames, s.arp_in, s.arp_replies, s.icmp_echo, s.bad + d.rx_bad, s.ignored, s.udp_unbound,
           s.tx_dropped);
  u::print("kvd: irq_wakeups=%lu poll_hits=%lu notifies=%lu resets=%lu\n", d.irq_wakeups, d.poll_hits, d.notifies,
           d.resets);
}

}  // namespace

int main(int argc, const char* const* argv) {
  char text[32] = "10.77.0.2";
  u32 ip;
  u::arg_str(argc, argv, "ip", text, sizeof text);
  if (!net::parse_ipv4(text, ip)) {
    u::print("kvd: bad ip=%s\n", text);
    return 2;
  }
  u64 port = u::arg_num(argc, argv, "port", 7000);
  u64 poll_us = u::arg_num(argc, argv, "poll", 50);
  if (!port || port > 65535) {
    u::print("kvd: bad port=%lu\n", port);
    return 2;
  }
  if (u::passed < 2) {
    u::print("kvd: no network device was passed to me (init gives the first virtio-net device to kvd)\n");
    return 1;
  }
  if (!dev.open(sys::SLOT_DEV_REGS, sys::SLOT_DEV_IRQ)) return 1;
  ifc.init(&dev, ip);
  ifc.bind(uint16_t(port), on_datagram, nullptr);
  u::serve_control(control);
  char mac[18];
  net::format_mac(dev.mac(), mac);
  u::print("kvd: listening on %s:%lu mac=%s%s\n", text, port, mac, dev.link_up() ? "" : " (link down)");
  for (;;) ifc.run_once(poll_us, 0);
}
