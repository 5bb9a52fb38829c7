// Network byte order: loads and stores of big-endian fields at any alignment.
#pragma once
#include "user/ulib.h"

namespace net {

inline uint16_t get16(const u8* p) { return uint16_t(p[0] << 8 | p[1]); }
inline u32 get32(const u8* p) { return u32(p[0]) << 24 | u32(p[1]) << 16 | u32(p[2]) << 8 | p[3]; }
inline void put16(u8* p, uint16_t v) {
  p[0] = u8(v >> 8);
  p[1] = u8(v);
}
inline void put32(u8* p, u32 v) {
  p[0] = u8(v >> 24);
  p[1] = u8(v >> 16);
  p[2] = u8(v >> 8);
  p[3] = u8(v);
}

}  // namespace net
