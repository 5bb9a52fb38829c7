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
    } else if (token_is(tok, key_len, "crash") && key_len < len) {
      o.crash_triplefault = token_is(value, value_len, "triplefault");
    }
  }
  return o;
}
