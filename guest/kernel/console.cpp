#include "kernel/console.h"

#include "arch/x86/serial.h"
#include "kernel/percpu.h"
#include "kernel/printf.h"
#include "kernel/spinlock.h"

namespace {

Spinlock lock;
volatile int owner = -1;   // CPU that holds `lock`, -1 if none

// Writes a formatted message; `force` skips the lock if this CPU holds it.
void emit(bool force, const char* fmt, va_list ap) {
  char buf[256];
  int n = vformat(buf, sizeof buf, fmt, ap);
  if (n > int(sizeof buf) - 1) n = sizeof buf - 1;
  u64 flags = x86::irq_save();
  int me = int(Cpu::current().id);
  bool take = !(force && owner == me);
  if (take) {
    lock.lock();
    owner = me;
  }
  for (int i = 0; i < n; i++) Serial::put(buf[i]);
  if (take) {
    owner = -1;
    lock.unlock();
  }
  x86::irq_restore(flags);
}

}  // namespace

void Console::vprint(const char* fmt, va_list ap) { emit(false, fmt, ap); }

void Console::print(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(false, fmt, ap);
  va_end(ap);
}

void Console::panic_print(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(true, fmt, ap);
  va_end(ap);
}
