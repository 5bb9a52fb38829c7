#include "user/net/arp.h"

#include "user/net/ether.h"
#include "user/net/interface.h"

namespace net {

namespace {

// Offsets in the ARP packet (after the Ethernet header).
constexpr u32 HTYPE = 0, PTYPE = 2, HLEN = 4, PLEN = 5, OPER = 6, SHA = 8, SPA = 14, THA = 18, TPA = 24, SIZE = 28;
constexpr uint16_t REQUEST = 1, REPLY = 2;

// Sends an ARP packet `oper` to `dst_mac` about target (tha, tpa).
bool arp_send(Interface& ifc, uint16_t oper, const u8* dst_mac, const u8* tha, u32 tpa) {
  uint16_t id;
  u8* f = ifc.dev().tx_buffer(id);
  if (!f) {
    ifc.counters.tx_dropped++;
    return false;
  }
  eth_header(f, dst_mac, ifc.mac(), ETH_ARP);
  u8* a = f + ETH_HLEN;
  put16(a + HTYPE, 1);
  put16(a + PTYPE, ETH_IPV4);
  a[HLEN] = 6;
  a[PLEN] = 4;
  put16(a + OPER, oper);
  memcpy(a + SHA, ifc.mac(), 6);
  put32(a + SPA, ifc.ip());
  memcpy(a + THA, tha, 6);
  put32(a + TPA, tpa);
  ifc.dev().tx_send(id, ETH_HLEN + SIZE);
  return true;
}

}  // namespace

void ArpCache::learn(u32 ip, const u8* mac) {
  for (Entry& e : entries_) {
    if (e.used && e.ip == ip) {
      memcpy(e.mac, mac, 6);
      return;
    }
  }
  Entry& e = entries_[next_];
  next_ = (next_ + 1) % SIZE;
  e.ip = ip;
  memcpy(e.mac, mac, 6);
  e.used = true;
}

bool ArpCache::lookup(u32 ip, u8* mac) const {
  for (const Entry& e : entries_) {
    if (e.used && e.ip == ip) {
      memcpy(mac, e.mac, 6);
      return true;
    }
  }
  return false;
}

void arp_input(Interface& ifc, const u8* frame, u32 len) {
  const u8* a = frame + ETH_HLEN;
  if (len < ETH_HLEN + SIZE || get16(a + HTYPE) != 1 || get16(a + PTYPE) != ETH_IPV4 || a[HLEN] != 6 ||
      a[PLEN] != 4) {
    ifc.counters.bad++;
    return;
  }
  u32 spa = get32(a + SPA), tpa = get32(a + TPA);
  if (tpa != ifc.ip()) {
    ifc.counters.ignored++;
    return;
  }
  ifc.counters.arp_in++;
  if (spa) ifc.arp.learn(spa, a + SHA);
  if (get16(a + OPER) == REQUEST && arp_send(ifc, REPLY, a + SHA, a + SHA, spa)) ifc.counters.arp_replies++;
}

bool arp_request(Interface& ifc, u32 ip) {
  const u8 zero[6] = {};
  return arp_send(ifc, REQUEST, MAC_BROADCAST, zero, ip);
}

}  // namespace net
