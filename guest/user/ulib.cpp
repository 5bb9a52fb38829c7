#include "user/ulib.h"

#include "kernel/printf.h"

namespace u {

u64 tsc_hz = 1000000000;
u64 tsc_per_us = 1000;
u32 ncpus = 1;
u32 passed;
const char* prog = "?";

namespace {

struct Ehdr {
  u8 ident[16];
  uint16_t type, machine;
  u32 version;
  u64 entry, phoff, shoff;
  u32 flags;
  uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct Phdr {
  u32 type, flags;
  u64 offset, vaddr, paddr, filesz, memsz, align;
};

Lock vm_lock;
u64 next_va = 0x200000000000ull;  // fresh mappings go up from here (a guard page between)

}  // namespace

void vprint(const char* fmt, va_list ap) {
  char buf[256];
  int n = vformat(buf, sizeof buf, fmt, ap);
  if (n > int(sizeof buf) - 1) n = sizeof buf - 1;
  sc(sys::PUTS, u64(buf), u64(n));
}

void print(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprint(fmt, ap);
  va_end(ap);
}

void* map_pmo(i64 pmo_slot, u64 pages, u64 prot) {
  vm_lock.lock();
  u64 va = next_va;
  next_va += (pages + 1) * 4096;
  vm_lock.unlock();
  if (sc(sys::VM_MAP, u64(pmo_slot), va, prot) < 0) return nullptr;
  return reinterpret_cast<void*>(va);
}

void* map_anon(u64 pages, i64* pmo_slot) {
  i64 pmo = sc(sys::PMO_CREATE, pages, sys::PMO_ANON);
  if (pmo < 0) return nullptr;
  void* va = map_pmo(pmo, pages);
  if (!va) {
    cap_delete(pmo);
    return nullptr;
  }
  if (pmo_slot) *pmo_slot = pmo;
  return va;
}

i64 thread_start(void (*fn)(void*), void* arg, int cpu) {
  constexpr u64 STACK_PAGES = 16;
  char* stack = static_cast<char*>(map_anon(STACK_PAGES));
  if (!stack) return -sys::ENOMEM;
  // The new thread starts at thread_entry with rdi = arg block at the stack top.
  u64* top = reinterpret_cast<u64*>(stack + STACK_PAGES * 4096) - 4;
  top[0] = reinterpret_cast<u64>(fn);
  top[1] = reinterpret_cast<u64>(arg);
  extern void thread_entry(u64*);
  return sc(sys::THREAD_CREATE, reinterpret_cast<u64>(&thread_entry), reinterpret_cast<u64>(top) - 8,
            reinterpret_cast<u64>(top), u64(i64(cpu)));
}

void thread_entry(u64* block) {
  auto fn = reinterpret_cast<void (*)(void*)>(block[0]);
  fn(reinterpret_cast<void*>(block[1]));
  thread_exit();
}

unsigned parse_num(const char* s, u64& out) {
  unsigned i = 0;
  u64 v = 0;
  while (s[i] >= '0' && s[i] <= '9') v = v * 10 + u64(s[i++] - '0');
  if (i) out = v;
  return i;
}

namespace {
// Calls fn(word, len) for each ','-separated word of every argv[1..].
template <typename F>
void each_word(int argc, const char* const* argv, F fn) {
  for (int a = 1; a < argc; a++) {
    const char* s = argv[a];
    while (*s) {
      const char* w = s;
      while (*s && *s != ',') s++;
      if (s > w) fn(w, unsigned(s - w));
      if (*s) s++;
    }
  }
}
// Length of key if word starts with "key=" or equals key; else 0.
unsigned key_match(const char* w, unsigned len, const char* key) {
  unsigned k = 0;
  while (key[k] && k < len && w[k] == key[k]) k++;
  if (key[k]) return 0;
  if (k == len || w[k] == '=') return k;
  return 0;
}
}  // namespace

u64 arg_num(int argc, const char* const* argv, const char* key, u64 def) {
  u64 v = def;
  each_word(argc, argv, [&](const char* w, unsigned len) {
    unsigned k = key_match(w, len, key);
    if (k && k < len) parse_num(w + k + 1, v);
  });
  return v;
}

bool arg_has(int argc, const char* const* argv, const char* key) {
  bool found = false;
  each_word(argc, argv, [&](const char* w, unsigned len) {
    if (key_match(w, len, key)) found = true;
  });
  return found;
}

bool arg_str(int argc, const char* const* argv, const char* key, char* out, unsigned max) {
  bool found = false;
  each_word(argc, argv, [&](const char* w, unsigned len) {
    unsigned k = key_match(w, len, key);
    if (!k || k == len) return;
    unsigned n = 0;
    for (unsigned i = k + 1; i < len && n + 1 < max; i++) out[n++] = w[i];
    out[n] = 0;
    found = true;
  });
  return found;
}

void msg_set_text(Msg& m, const char* s, unsigned len) {
  char* d = reinterpret_cast<char*>(m.w);
  for (unsigned i = 0; i < 32; i++) d[i] = i < len && i < 31 ? s[i] : 0;
}

void msg_text(const Msg& m, char out[32]) {
  const char* s = reinterpret_cast<const char*>(m.w);
  for (unsigned i = 0; i < 31; i++) out[i] = s[i];
  out[31] = 0;
}

namespace {
void (*control_handler)(const char*);

void control_loop(void*) {
  Msg m;
  i64 r = ipc_recv(sys::SLOT_CONTROL, m);
  for (;;) {
    if (r < 0) thread_exit();
    char cmd[32];
    msg_text(m, cmd);
    control_handler(cmd);
    Msg reply;
    ipc_reply(sys::SLOT_CONTROL, reply);
    r = ipc_recv(sys::SLOT_CONTROL, m);
  }
}
}  // namespace

void serve_control(void (*handler)(const char* cmd)) {
  if (cap_info(sys::SLOT_CONTROL) < 0) return;
  control_handler = handler;
  thread_start(control_loop, nullptr);
}

}  // namespace u

extern "C" [[noreturn]] void ulib_start(sys::StartInfo* si) {
  // Copy initialised data from the read-only file mapping (bss is already zero).
  auto* eh = reinterpret_cast<const u::Ehdr*>(sys::USER_IMAGE_BASE);
  auto* ph = reinterpret_cast<const u::Phdr*>(sys::USER_IMAGE_BASE + eh->phoff);
  for (unsigned i = 0; i < eh->phnum; i++)
    if (ph[i].type == 1 && (ph[i].flags & 2) && ph[i].filesz)
      memcpy(reinterpret_cast<void*>(ph[i].vaddr), reinterpret_cast<const void*>(sys::USER_IMAGE_BASE + ph[i].offset),
             ph[i].filesz);
  u::tsc_hz = si->tsc_hz;
  u::tsc_per_us = si->tsc_hz / 1000000 ? si->tsc_hz / 1000000 : 1;
  u::ncpus = si->ncpus;
  u::passed = si->passed;
  u::prog = si->argv[0];
  u::exit(main(int(si->argc), si->argv));
}
