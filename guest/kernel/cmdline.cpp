#include "kernel/cmdline.h"

#include "arch/x86/memory.h"

Options Cmdline::options_;

namespace {

// True if the token [tok, tok + len) equals the NUL-terminated `word`.
bool token_is(const char* tok, unsigned len, const char* word) {
  unsigned i = 0;
  for (; i < len; i++)
    if (word[i] != tok[i]) return false;
  return word[i] == '\0';
}

// Parses a decimal number from [s, s + len); returns false if it is not one.
bool parse_uint(const char* s, unsigned len, unsigned& out) {
  if (len == 0 || len > 9) return false;
  unsigned v = 0;
  for (unsigned i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + unsigned(s[i] - '0');
  }
  out = v;
  return true;
}

// Parses a number (decimal, or hex after 0x) at s[*i..len) with an optional
// K/M suffix when `suffix`; advances *i. Returns false if there is none or it overflows.
bool parse_num(const char* s, unsigned len, unsigned* i, bool suffix, u64& out) {
  u64 v = 0;
  unsigned base = 10, start;
  if (*i + 2 < len && s[*i] == '0' && (s[*i + 1] == 'x' || s[*i + 1] == 'X')) {
    base = 16;
    *i += 2;
  }
  for (start = *i; *i < len; (*i)++) {
    char c = s[*i];
    unsigned d = c >= '0' && c <= '9' ? unsigned(c - '0')
                 : base == 16 && (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? unsigned((c | 0x20) - 'a' + 10) : 16;
    if (d >= base) break;
    if (v >> 56) return false;
    v = v * base + d;
  }
  if (*i == start) return false;
  if (suffix && *i < len && (s[*i] == 'K' || s[*i] == 'k' || s[*i] == 'M' || s[*i] == 'm')) {
    v <<= (s[*i] == 'K' || s[*i] == 'k') ? 10 : 20;
    (*i)++;
  }
  out = v;
  return true;
}

// Parses "SIZE@ADDR:IRQ[:ID]" into d; false if malformed or out of range.
bool parse_virtio(const char* s, unsigned len, VirtioMmio& d) {
  unsigned i = 0;
  u64 size, base, irq;
  if (!parse_num(s, len, &i, true, size) || i >= len || s[i++] != '@') return false;
  if (!parse_num(s, len, &i, false, base) || i >= len || s[i++] != ':') return false;
  if (!parse_num(s, len, &i, false, irq) || (i < len && s[i] != ':')) return false;
  if (!size || size > (1u << 20) || base >> 46 || irq > 255) return false;
  d = VirtioMmio{base, u32(size), u32(irq)};
  return true;
}

}  // namespace

Options Cmdline::parse(const char* line) {
  Options o;
  const char* p = line;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    const char* tok = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '\n') p++;
    unsigned len = unsigned(p - tok);
    if (!len) break;
    unsigned key_len = 0;
    while (key_len < len && tok[key_len] != '=') key_len++;
    const char* value = tok + key_len + 1;
    unsigned value_len = key_len < len ? len - key_len - 1 : 0;

    if (token_is(tok, len, "selftest")) {
      o.selftest = true;
    } else if (token_is(tok, key_len, "cpus") && key_len < len) {
      unsigned n;
      if (parse_uint(value, value_len, n) && n >= 1 && n <= MAX_CPUS) {
        o.cpus = n;
        o.cpus_invalid = false;
      } else {
        o.cpus_invalid = true;
      }
    } else if (token_is(tok, key_len, "init") && key_len < len) {
      o.init = value;
      o.init_len = value_len;
    } else if (token_is(tok, key_len, "init.poweroff") && key_len < len) {
      o.poweroff = value;
      o.poweroff_len = value_len;
    } else if (token_is(tok, key_len, "virtio_mmio.device") && key_len < len) {
      VirtioMmio d;
      bool dup = false;
      if (!parse_virtio(value, value_len, d)) {
        o.virtio_invalid = true;
        continue;
      }
      for (unsigned i = 0; i < o.nvirtio; i++) dup = dup || o.virtio[i].base == d.base;
      if (dup) continue;
      if (o.nvirtio < Options::MAX_VIRTIO) o.virtio[o.nvirtio++] = d;
      else o.virtio_invalid = true;
    } else if (token_is(tok, key_len, "crash") && key_len < len) {
      o.crash_triplefault = token_is(value, value_len, "triplefault");
    }
  }
  return o;
}
