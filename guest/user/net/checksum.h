// The Internet checksum (RFC 1071): one's-complement sum of 16-bit words.
#pragma once
#include "user/ulib.h"

namespace net {

// Adds `len` bytes at `p` (big-endian words; an odd last byte is padded) to a running sum.
u32 csum_add(u32 sum, const u8* p, u32 len);

// Folds a running sum into the 16-bit checksum (complemented).
uint16_t csum_fold(u32 sum);

}  // namespace net
