#include "user/net/udp.h"

#include "user/net/bytes.h"
#include "user/net/checksum.h"
#include "user/net/interface.h"

namespace net {

void udp_input(Interface& ifc, const Ipv4Packet& p) {
  if (p.len < UDP_HLEN) {
    ifc.counters.bad++;
    return;
  }
  const u8* h = p.payload;
  u32 len = get16(h + 4);
  if (len < UDP_HLEN || len > p.len ||
      (get16(h + 6) && csum_fold(csum_add(ipv4_pseudo_sum(p.src, p.dst, IP_UDP, len), h, len)))) {
    ifc.counters.bad++;
    return;
  }
  UdpDatagram d;
  d.data = h + UDP_HLEN;
  d.len = len - UDP_HLEN;
  memcpy(d.src_mac, p.frame + 6, 6);
  d.src_ip = p.src;
  d.src_port = get16(h);
  d.dst_port = get16(h + 2);
  const Interface::Binding* b = ifc.binding(d.dst_port);
  if (!b) {
    ifc.counters.udp_unbound++;
    return;
  }
  ifc.counters.udp_in++;
  b->handler(ifc, d, b->ctx);
}

bool Interface::udp_send(const u8* dst_mac, u32 dst_ip, uint16_t src_port, uint16_t dst_port, const void* data,
                         u32 len) {
  if (len > UDP_MAX_PAYLOAD) return false;
  uint16_t id;
  u8* h = ipv4_begin(*this, id);
  if (!h) return false;
  put16(h, src_port);
  put16(h + 2, dst_port);
  put16(h + 4, uint16_t(UDP_HLEN + len));
  put16(h + 6, 0);
  memcpy(h + UDP_HLEN, data, len);
  uint16_t sum = csum_fold(csum_add(ipv4_pseudo_sum(ip(), dst_ip, IP_UDP, UDP_HLEN + len), h, UDP_HLEN + len));
  put16(h + 6, sum ? sum : 0xffff);
  ipv4_send(*this, id, dst_mac, dst_ip, IP_UDP, UDP_HLEN + len);
  counters.udp_out++;
  return true;
}

}  // namespace net
