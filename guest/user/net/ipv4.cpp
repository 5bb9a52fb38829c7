#include "user/net/ipv4.h"

#include "user/net/checksum.h"
#include "user/net/ether.h"
#include "user/net/icmp.h"
#include "user/net/interface.h"
#include "user/net/udp.h"

namespace net {

namespace {
uint16_t next_id = 1;
}

void ipv4_input(Interface& ifc, const u8* frame, u32 len) {
  const u8* ip = frame + ETH_HLEN;
  u32 avail = len - ETH_HLEN;
  if (avail < IP_HLEN || (ip[0] >> 4) != 4) {
    ifc.counters.bad++;
    return;
  }
  u32 hlen = (ip[0] & 15) * 4u, total = get16(ip + 2);
  if (hlen < IP_HLEN || total < hlen || total > avail || csum_fold(csum_add(0, ip, hlen))) {
    ifc.counters.bad++;
    return;
  }
  Ipv4Packet p{frame, get32(ip + 12), get32(ip + 16), ip[9], ip + hlen, total - hlen};
  if (p.dst != ifc.ip() || (get16(ip + 6) & 0x3fff)) {  // not ours, or a fragment (MF or an offset)
    ifc.counters.ignored++;
    return;
  }
  ifc.arp.learn(p.src, frame + 6);
  switch (p.proto) {
    case IP_ICMP: icmp_input(ifc, p); break;
    case IP_UDP: udp_input(ifc, p); break;
    default: ifc.counters.ignored++;
  }
}

u32 ipv4_pseudo_sum(u32 src, u32 dst, u8 proto, u32 len) {
  u64 s = u64(src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
  return u32(s);
}

u8* ipv4_begin(Interface& ifc, uint16_t& id) {
  u8* f = ifc.dev().tx_buffer(id);
  if (!f) {
    ifc.counters.tx_dropped++;
    return nullptr;
  }
  return f + ETH_HLEN + IP_HLEN;
}

void ipv4_send(Interface& ifc, uint16_t id, const u8* dst_mac, u32 dst_ip, u8 proto, u32 payload_len) {
  u8* f = ifc.dev().tx_frame(id);
  eth_header(f, dst_mac, ifc.mac(), ETH_IPV4);
  u8* ip = f + ETH_HLEN;
  ip[0] = 0x45;
  ip[1] = 0;
  put16(ip + 2, uint16_t(IP_HLEN + payload_len));
  put16(ip + 4, next_id++);
  put16(ip + 6, 0x4000);  // don't fragment
  ip[8] = 64;
  ip[9] = proto;
  put16(ip + 10, 0);
  put32(ip + 12, ifc.ip());
  put32(ip + 16, dst_ip);
  put16(ip + 10, csum_fold(csum_add(0, ip, IP_HLEN)));
  ifc.dev().tx_send(id, ETH_HLEN + IP_HLEN + payload_len);
}

}  // namespace net
