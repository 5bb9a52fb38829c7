#include "user/net/addr.h"

namespace net {

bool parse_ipv4(const char* s, u32& out) {
  u32 ip = 0;
  for (int part = 0; part < 4; part++) {
    if (part && *s++ != '.') return false;
    u64 v = 0;
    unsigned n = u::parse_num(s, v);
    if (!n || n > 3 || v > 255) return false;
    ip = ip << 8 | u32(v);
    s += n;
  }
  if (*s) return false;
  out = ip;
  return true;
}

void format_ipv4(u32 ip, char* out) {
  unsigned n = 0;
  for (int part = 3; part >= 0; part--) {
    unsigned v = (ip >> (8 * part)) & 255;
    if (v >= 100) out[n++] = char('0' + v / 100);
    if (v >= 10) out[n++] = char('0' + v / 10 % 10);
    out[n++] = char('0' + v % 10);
    if (part) out[n++] = '.';
  }
  out[n] = 0;
}

void format_mac(const u8* mac, char* out) {
  const char* hex = "0123456789abcdef";
  for (unsigned i = 0; i < 6; i++) {
    out[3 * i] = hex[mac[i] >> 4];
    out[3 * i + 1] = hex[mac[i] & 15];
    out[3 * i + 2] = i < 5 ? ':' : 0;
  }
}

}  // namespace net
