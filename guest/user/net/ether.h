// Ethernet II framing: 6-byte destination and source MACs, then the EtherType.
#pragma once
#include "user/net/bytes.h"

namespace net {

constexpr u32 ETH_HLEN = 14;
constexpr uint16_t ETH_ARP = 0x0806, ETH_IPV4 = 0x0800;
constexpr u8 MAC_BROADCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

inline bool mac_equal(const u8* a, const u8* b) { return !__builtin_memcmp(a, b, 6); }

// Writes the Ethernet header at `frame`.
inline void eth_header(u8* frame, const u8* dst, const u8* src, uint16_t type) {
  memcpy(frame, dst, 6);
  memcpy(frame + 6, src, 6);
  put16(frame + 12, type);
}

}  // namespace net
