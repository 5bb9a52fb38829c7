// IPv4 (RFC 791): checks incoming packets for us (version, lengths, header
// checksum; fragments are not reassembled but dropped) and hands them to
// ICMP or UDP; builds outgoing packets (20-byte header, DF, TTL 64).
#pragma once
#include "user/ulib.h"

namespace net {

class Interface;

constexpr u8 IP_ICMP = 1, IP_UDP = 17;
constexpr u32 IP_HLEN = 20;
constexpr u32 IP_MAX_PAYLOAD = 1500 - IP_HLEN;

// A received packet for us.
struct Ipv4Packet {
  const u8* frame;    // Ethernet frame (source MAC at frame + 6)
  u32 src, dst;
  u8 proto;
  const u8* payload;  // after the IP header
  u32 len;            // payload bytes (per the IP total length)
};

// Handles an IPv4 frame (Ethernet header included).
void ipv4_input(Interface& ifc, const u8* frame, u32 len);

// One's-complement sum of the pseudo header (for UDP checksums).
u32 ipv4_pseudo_sum(u32 src, u32 dst, u8 proto, u32 len);

// A transmit buffer: the payload (at most IP_MAX_PAYLOAD bytes) goes at the
// returned pointer. nullptr if none is free.
u8* ipv4_begin(Interface& ifc, uint16_t& id);

// Writes the Ethernet and IPv4 headers before `payload_len` bytes in buffer `id` and sends it.
void ipv4_send(Interface& ifc, uint16_t id, const u8* dst_mac, u32 dst_ip, u8 proto, u32 payload_len);

}  // namespace net
