// ICMP (RFC 792): answers echo requests (ping); everything else is ignored.
#pragma once
#include "user/net/ipv4.h"

namespace net {

// Handles an ICMP packet for us.
void icmp_input(Interface& ifc, const Ipv4Packet& p);

}  // namespace net
