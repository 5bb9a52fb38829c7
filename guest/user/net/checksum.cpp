#include "user/net/checksum.h"

namespace net {

u32 csum_add(u32 sum, const u8* p, u32 len) {
  u64 s = sum;
  u32 i = 0;
  for (; i + 1 < len; i += 2) s += u32(p[i]) << 8 | p[i + 1];
  if (i < len) s += u32(p[i]) << 8;
  while (s >> 32) s = (s & 0xffffffff) + (s >> 32);
  return u32(s);
}

uint16_t csum_fold(u32 sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

}  // namespace net
