#include "kernel/printf.h"

namespace {

// Bounded output buffer that keeps counting past its end.
struct Sink {
  char* buf;
  size_t size;
  size_t len;

  // Appends one character if there is room (keeping space for the NUL).
  void put(char c) {
    if (len + 1 < size) buf[len] = c;
    len++;
  }

  // Appends `n` copies of c.
  void fill(char c, int n) {
    while (n-- > 0) put(c);
  }
};

// Field options of one conversion.
struct Spec {
  int width = 0;
  bool left = false;
  char pad = ' ';
};

// Appends a string padded to the field width.
void put_str(Sink& s, const char* str, const Spec& spec) {
  if (!str) str = "(null)";
  int n = 0;
  while (str[n]) n++;
  if (!spec.left) s.fill(' ', spec.width - n);
  for (int i = 0; i < n; i++) s.put(str[i]);
  if (spec.left) s.fill(' ', spec.width - n);
}

// Appends an unsigned number in base 10 or 16, with optional sign and prefix.
void put_num(Sink& s, u64 v, unsigned base, bool upper, bool neg, const char* prefix, const Spec& spec) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char tmp[24];
  int n = 0;
  if (base == 16) {
    do {
      tmp[n++] = digits[v & 15];
      v >>= 4;
    } while (v);
  } else {
    do {
      tmp[n++] = digits[v % 10];
      v /= 10;
    } while (v);
  }
  int plen = 0;
  while (prefix[plen]) plen++;
  int total = n + plen + (neg ? 1 : 0);
  if (!spec.left && spec.pad == ' ') s.fill(' ', spec.width - total);
  if (neg) s.put('-');
  for (int i = 0; i < plen; i++) s.put(prefix[i]);
  if (!spec.left && spec.pad == '0') s.fill('0', spec.width - total);
  while (n) s.put(tmp[--n]);
  if (spec.left) s.fill(' ', spec.width - total);
}

}  // namespace

int vformat(char* buf, size_t size, const char* fmt, va_list ap) {
  Sink s{buf, size, 0};
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      s.put(*fmt);
      continue;
    }
    Spec spec;
    fmt++;
    for (;; fmt++) {
      if (*fmt == '-')
        spec.left = true;
      else if (*fmt == '0')
        spec.pad = '0';
      else
        break;
    }
    while (*fmt >= '0' && *fmt <= '9') spec.width = spec.width * 10 + (*fmt++ - '0');
    int longs = 0;
    while (*fmt == 'l' || *fmt == 'z') {
      longs += *fmt == 'z' ? 2 : 1;
      fmt++;
    }
    switch (*fmt) {
      case 'd':
      case 'i': {
        long long v = longs ? va_arg(ap, long long) : va_arg(ap, int);
        bool neg = v < 0;
        put_num(s, neg ? 0ull - u64(v) : u64(v), 10, false, neg, "", spec);
        break;
      }
      case 'u':
        put_num(s, longs ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned), 10, false, false, "", spec);
        break;
      case 'x':
      case 'X':
        put_num(s, longs ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned), 16, *fmt == 'X', false, "", spec);
        break;
      case 'p':
        put_num(s, reinterpret_cast<u64>(va_arg(ap, void*)), 16, false, false, "0x", spec);
        break;
      case 's':
        put_str(s, va_arg(ap, const char*), spec);
        break;
      case 'c':
        s.put(char(va_arg(ap, int)));
        break;
      case '%':
        s.put('%');
        break;
      case '\0':
        fmt--;
        break;
      default:
        s.put('%');
        s.put(*fmt);
        break;
    }
  }
  if (size) buf[s.len < size ? s.len : size - 1] = '\0';
  return int(s.len);
}

int format(char* buf, size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vformat(buf, size, fmt, ap);
  va_end(ap);
  return n;
}
