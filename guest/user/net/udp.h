// UDP (RFC 768): delivers datagrams for a bound port (checksum verified when
// present) and sends datagrams (checksum always filled in).
#pragma once
#include "user/net/ipv4.h"

namespace net {

constexpr u32 UDP_HLEN = 8;
constexpr u32 UDP_MAX_PAYLOAD = IP_MAX_PAYLOAD - UDP_HLEN;

// Handles a UDP packet for us.
void udp_input(Interface& ifc, const Ipv4Packet& p);

}  // namespace net
