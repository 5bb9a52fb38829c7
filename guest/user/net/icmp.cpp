#include "user/net/icmp.h"

#include "user/net/bytes.h"
#include "user/net/checksum.h"
#include "user/net/interface.h"

namespace net {

namespace {
constexpr u8 ECHO_REPLY = 0, ECHO_REQUEST = 8;
}

void icmp_input(Interface& ifc, const Ipv4Packet& p) {
  if (p.len < 8 || csum_fold(csum_add(0, p.payload, p.len))) {
    ifc.counters.bad++;
    return;
  }
  if (p.payload[0] != ECHO_REQUEST || p.len > IP_MAX_PAYLOAD) {
    ifc.counters.ignored++;
    return;
  }
  uint16_t id;
  u8* out = ipv4_begin(ifc, id);
  if (!out) return;
  memcpy(out, p.payload, p.len);  // identifier, sequence number and data come back as they were
  out[0] = ECHO_REPLY;
  out[1] = 0;
  put16(out + 2, 0);
  put16(out + 2, csum_fold(csum_add(0, out, p.len)));
  ipv4_send(ifc, id, p.frame + 6, p.src, IP_ICMP, p.len);
  ifc.counters.icmp_echo++;
}

}  // namespace net
