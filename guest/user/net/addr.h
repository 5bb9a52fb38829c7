// IPv4 and MAC addresses as text.
#pragma once
#include "user/ulib.h"

namespace net {

// Parses dotted-quad "a.b.c.d" (the whole string) into a host-order address; false if malformed.
bool parse_ipv4(const char* s, u32& out);

// Formats a host-order address as "a.b.c.d" (out: at least 16 bytes).
void format_ipv4(u32 ip, char* out);

// Formats a MAC as "xx:xx:xx:xx:xx:xx" (out: at least 18 bytes).
void format_mac(const u8* mac, char* out);

}  // namespace net
