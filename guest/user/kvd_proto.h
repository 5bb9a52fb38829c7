// kvd's request parser and table (docs/kvd-protocol.md): answer() turns one
// request datagram into its reply. Header-only, freestanding and free of
// system calls and of the std library, so that the host builds it too
// (fuzz/fuzz_kvd.cpp feeds it hostile datagrams). Include it once per
// program (its state lives in an anonymous namespace), after declaring
// memcpy and strlen (user/ulib.h in the guest, <cstring> on the host).
#pragma once
#include <stddef.h>
#include <stdint.h>

using u8 = uint8_t;
using u32 = uint32_t;
using u64 = uint64_t;

namespace {

constexpr u32 CAPACITY = 16384, BUCKETS = 32768, MAX_KEY = 64, MAX_VALUE = 1024, MAX_ID = 32;

// --- the table: chained buckets over a pool of entries (handed out in order, reused after DEL) ---
struct Entry {
  u32 next;  // entry index + 1 in the same bucket / the free list; 0 = end
  u32 hash;
  uint16_t klen, vlen;
  char key[MAX_KEY];
  char value[MAX_VALUE];
};

Entry entries[CAPACITY];
u32 buckets[BUCKETS];  // entry index + 1; 0 = empty
u32 free_list;         // entry index + 1
u32 top;               // entries never used start here
u32 nkeys;
volatile u64 sets, gets, dels, errors;

u32 hash(const char* s, u32 n) {
  u32 h = 2166136261u;
  for (u32 i = 0; i < n; i++) h = (h ^ u8(s[i])) * 16777619u;
  return h;
}

// The slot that points at the entry for key (or the bucket's terminating 0).
u32* find(const char* key, u32 klen, u32 h) {
  u32* link = &buckets[h % BUCKETS];
  while (*link) {
    Entry& e = entries[*link - 1];
    if (e.hash == h && e.klen == klen && !__builtin_memcmp(e.key, key, klen)) return link;
    link = &e.next;
  }
  return link;
}

// Stores key -> value; false if the table is full.
bool put(const char* key, u32 klen, const char* value, u32 vlen) {
  u32 h = hash(key, klen);
  u32* link = find(key, klen, h);
  Entry* e;
  if (*link) {
    e = &entries[*link - 1];
  } else {
    u32 idx;
    if (free_list) {
      idx = free_list - 1;
      free_list = entries[idx].next;
    } else if (top < CAPACITY) {
      idx = top++;
    } else {
      return false;
    }
    e = &entries[idx];
    e->next = 0;
    e->hash = h;
    e->klen = uint16_t(klen);
    memcpy(e->key, key, klen);
    *link = idx + 1;
    nkeys++;
  }
  memcpy(e->value, value, vlen);
  e->vlen = uint16_t(vlen);
  return true;
}

const Entry* get(const char* key, u32 klen) {
  u32* link = find(key, klen, hash(key, klen));
  return *link ? &entries[*link - 1] : nullptr;
}

bool del(const char* key, u32 klen) {
  u32* link = find(key, klen, hash(key, klen));
  if (!*link) return false;
  u32 idx = *link - 1;
  *link = entries[idx].next;
  entries[idx].next = free_list;
  free_list = idx + 1;
  nkeys--;
  return true;
}

// --- requests ---
bool printable(char c) { return c > ' ' && c != 0x7f; }

bool valid_key(const char* k, u32 n) {
  if (!n || n > MAX_KEY) return false;
  for (u32 i = 0; i < n; i++)
    if (u8(k[i]) < 0x80 && !printable(k[i])) return false;
  return true;
}

// Appends s to out at *n.
void add(char* out, u32* n, const char* s, u32 len) {
  memcpy(out + *n, s, len);
  *n += len;
}
void add(char* out, u32* n, const char* s) { add(out, n, s, u32(strlen(s))); }

void add_num(char* out, u32* n, u64 v) {
  char d[24];
  int k = 0;
  do d[k++] = char('0' + v % 10); while (v /= 10);
  while (k) out[(*n)++] = d[--k];
}

// Answers one request (text of `len` bytes) into out; returns the reply length (0: no reply).
u32 answer(const char* req, u32 len, char* out) {
  if (len && req[len - 1] == '\n') len--;
  u32 i = 0;
  while (i < len && req[i] != ' ') i++;
  u32 id_len = i;
  if (!id_len || id_len > MAX_ID) return 0;
  for (u32 k = 0; k < id_len; k++)
    if (!printable(req[k]) || u8(req[k]) >= 0x80) return 0;
  u32 n = 0;
  add(out, &n, req, id_len);
  out[n++] = ' ';
  const char* cmd = req + (i < len ? i + 1 : i);
  u32 cmd_len = 0, rest = len - u32(cmd - req);
  while (cmd_len < rest && cmd[cmd_len] != ' ') cmd_len++;
  const char* args = cmd + cmd_len + (cmd_len < rest ? 1 : 0);
  u32 args_len = len - u32(args - req);
  bool has_args = cmd_len < rest;
  auto is = [&](const char* word) { return cmd_len == strlen(word) && !__builtin_memcmp(cmd, word, cmd_len); };

  if (is("SET")) {
    u32 klen = 0;
    while (klen < args_len && args[klen] != ' ') klen++;
    if (!has_args || klen == args_len || !valid_key(args, klen) || args_len - klen - 1 > MAX_VALUE) {
      errors = errors + 1;
      add(out, &n, "ERR bad request");
      return n;
    }
    if (!put(args, klen, args + klen + 1, args_len - klen - 1)) {
      errors = errors + 1;
      add(out, &n, "ERR full");
      return n;
    }
    sets = sets + 1;
    add(out, &n, "OK");
  } else if (is("GET") || is("DEL")) {
    bool ok_key = has_args && valid_key(args, args_len);
    if (!ok_key) {
      errors = errors + 1;
      add(out, &n, "ERR bad key");
      return n;
    }
    if (cmd[0] == 'G') {
      gets = gets + 1;
      const Entry* e = get(args, args_len);
      if (!e) {
        add(out, &n, "NOTFOUND");
      } else {
        add(out, &n, "VALUE ");
        add(out, &n, e->value, e->vlen);
      }
    } else {
      dels = dels + 1;
      add(out, &n, del(args, args_len) ? "OK" : "NOTFOUND");
    }
  } else if (is("STATS") && !has_args) {
    add(out, &n, "STATS keys=");
    add_num(out, &n, nkeys);
    add(out, &n, " sets=");
    add_num(out, &n, sets);
    add(out, &n, " gets=");
    add_num(out, &n, gets);
    add(out, &n, " dels=");
    add_num(out, &n, dels);
  } else {
    errors = errors + 1;
    add(out, &n, "ERR unknown command");
  }
  return n;
}

// The longest reply answer() writes: the id, a blank, "VALUE " and a value.
constexpr u32 REPLY_MAX = MAX_ID + 16 + MAX_VALUE;

}  // namespace
