// User-mode runtime: system-call wrappers (int3 gate), console output,
// argument parsing, threads, memory, locks, time.
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "abi/descriptor.h"
#include "abi/syscall.h"

using u8 = uint8_t;
using u32 = uint32_t;
using u64 = uint64_t;
using i64 = int64_t;

extern "C" {
void* memset(void* dst, int c, size_t n);
void* memcpy(void* dst, const void* src, size_t n);
size_t strlen(const char* s);
int strcmp(const char* a, const char* b);
}

// The program's main (argv[0] is its name).
int main(int argc, const char* const* argv);

namespace u {

// --- system calls ---
inline i64 sc(u64 n, u64 a = 0, u64 b = 0, u64 c = 0, u64 d = 0, u64 e = 0, u64 f = 0) {
  register u64 r10 asm("r10") = d;
  register u64 r8 asm("r8") = e;
  register u64 r9 asm("r9") = f;
  asm volatile("int3" : "+a"(n), "+D"(a), "+S"(b), "+d"(c), "+r"(r10), "+r"(r8), "+r"(r9) : : "memory");
  return i64(n);
}

// A four-word IPC message.
struct Msg {
  u64 w[4] = {};
};

inline i64 ipc(u64 n, i64 slot, Msg& m) {
  register u64 r10 asm("r10") = m.w[2];
  register u64 r8 asm("r8") = m.w[3];
  u64 a = u64(slot);
  asm volatile("int3" : "+a"(n), "+D"(a), "+S"(m.w[0]), "+d"(m.w[1]), "+r"(r10), "+r"(r8) : : "memory");
  m.w[2] = r10;
  m.w[3] = r8;
  return i64(n);
}
inline i64 ipc_call(i64 slot, Msg& m) { return ipc(sys::IPC_CALL, slot, m); }
inline i64 ipc_recv(i64 slot, Msg& m) { return ipc(sys::IPC_RECV, slot, m); }
inline i64 ipc_reply(i64 slot, Msg& m) { return ipc(sys::IPC_REPLY, slot, m); }

[[noreturn]] inline void exit(int code) {
  sc(sys::EXIT, u64(code));
  __builtin_unreachable();
}
[[noreturn]] inline void thread_exit() {
  sc(sys::THREAD_EXIT);
  __builtin_unreachable();
}
inline void yield() { sc(sys::YIELD); }
inline void sleep_us(u64 us) { sc(sys::SLEEP, us); }
inline i64 notif_create() { return sc(sys::NOTIF_CREATE); }
inline i64 signal(i64 slot) { return sc(sys::SIGNAL, u64(slot)); }
inline i64 wait(i64 slot, u64 timeout_us = 0) { return sc(sys::WAIT, u64(slot), timeout_us); }
inline i64 conn_create() { return sc(sys::CONN_CREATE); }
inline i64 cap_copy(i64 slot, i64 dest_group, u32 rights) { return sc(sys::CAP_COPY, u64(slot), u64(dest_group), rights); }
inline i64 cap_revoke(i64 slot) { return sc(sys::CAP_REVOKE, u64(slot)); }
inline i64 cap_delete(i64 slot) { return sc(sys::CAP_DELETE, u64(slot)); }
inline i64 cap_info(i64 slot) { return sc(sys::CAP_INFO, u64(slot)); }
inline i64 info(u64 what) { return sc(sys::INFO, what); }
inline i64 cpu() { return info(sys::INFO_CPU); }
// pass: caller slots, one per byte from the lowest, ending at a 0xff byte; they
// land in the child's SLOT_PASSED, SLOT_PASSED + 1, ... (see sys::SPAWN).
inline i64 spawn(const char* name, const char* args, i64 ctl, i64 exit_notif, int cpu = -1, u64 pass = ~0ull) {
  return sc(sys::SPAWN, u64(name), u64(args), u64(ctl), u64(exit_notif), u64(i64(cpu)), pass);
}
inline i64 proc_status(i64 slot) { return sc(sys::PROC_STATUS, u64(slot)); }
[[noreturn]] inline void poweroff(int code) {
  sc(sys::POWEROFF, u64(code));
  for (;;) {
  }
}

// --- time ---
inline u64 rdtsc() {
  u32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (u64(hi) << 32) | lo;
}
extern u64 tsc_hz;       // from StartInfo
extern u64 tsc_per_us;
extern u32 ncpus;
extern u32 passed;        // capabilities passed at spawn (slots SLOT_PASSED...)
extern const char* prog;  // argv[0]

// --- output ---
void print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void vprint(const char* fmt, va_list ap);

// --- memory ---
// Maps a new PMO of `pages` pages (read/write) at a fresh address; nullptr on failure.
void* map_anon(u64 pages, i64* pmo_slot = nullptr);
// Maps the PMO in `pmo_slot` (`pages` pages, sys::PROT_* `prot`) at a fresh address; nullptr on failure.
void* map_pmo(i64 pmo_slot, u64 pages, u64 prot = sys::PROT_READ | sys::PROT_WRITE);

// --- threads ---
// Starts fn(arg) on a new thread with a 64 KiB stack, pinned to `cpu` (-1: any); returns its slot.
i64 thread_start(void (*fn)(void*), void* arg, int cpu = -1);

// --- locks ---
struct Lock {
  volatile u32 v = 0;
  void lock() {
    unsigned spins = 0;
    while (__atomic_exchange_n(&v, 1, __ATOMIC_ACQUIRE)) {
      while (__atomic_load_n(&v, __ATOMIC_RELAXED)) {
        asm volatile("pause");
        if (++spins > 20000) {  // holder probably preempted: let it run
          yield();
          spins = 0;
        }
      }
    }
  }
  void unlock() { __atomic_store_n(&v, 0, __ATOMIC_RELEASE); }
};

// --- arguments: "key=value" words, several per argv entry separated by ',' ---
// Value of `key` as a number (decimal), or `def`.
u64 arg_num(int argc, const char* const* argv, const char* key, u64 def);
// True if a word equal to `key` (or key=...) is present.
bool arg_has(int argc, const char* const* argv, const char* key);
// Copies the value of `key` (NUL-terminated, at most max - 1 bytes) into out; false if absent.
bool arg_str(int argc, const char* const* argv, const char* key, char* out, unsigned max);
// Parses a decimal number; returns the number of characters used (0: none).
unsigned parse_num(const char* s, u64& out);

// --- control: the commands init routes from the serial console ---
// Serves SLOT_CONTROL on a new thread: each command (text, up to 31 bytes)
// goes to handler(cmd) on that thread. No-op if there is no control connection.
void serve_control(void (*handler)(const char* cmd));

// Packs / unpacks text in a message (at most 31 bytes).
void msg_set_text(Msg& m, const char* s, unsigned len);
void msg_text(const Msg& m, char out[32]);

}  // namespace u
