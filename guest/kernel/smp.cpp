#include "kernel/smp.h"

#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "arch/x86/memory.h"
#include "kernel/clock.h"
#include "kernel/console.h"
#include "kernel/percpu.h"
#include "lib/string.h"

u32 Smp::online_ = 1;

extern "C" char trampoline_start[], trampoline_end[];  // trampoline.S

namespace {

constexpr u64 AP_TIMEOUT_US = 3000000;

// True once every CPU in [1, want) is online.
bool all_online(void* want) {
  unsigned n = unsigned(reinterpret_cast<uintptr_t>(want));
  for (unsigned i = 1; i < n; i++)
    if (!cpus[i].online) return false;
  return true;
}

// True once the posted call of the given CPU has completed.
bool call_done(void* cpu) { return !__atomic_load_n(&static_cast<Cpu*>(cpu)->call.pending, __ATOMIC_ACQUIRE); }

}  // namespace

bool wait_until(bool (*done)(void*), void* arg, u64 timeout_us) {
  u64 end = Clock::deadline(timeout_us);
  for (;;) {
    if (done(arg)) return true;
    if (Clock::passed(end)) return done(arg);
    x86::sti_hlt();
  }
}

void idle() {
  for (;;) x86::sti_hlt();
}

void Smp::boot_aps(unsigned want) {
  if (want <= 1) return;
  memcpy(phys_to_virt(TRAMP_BASE), trampoline_start, size_t(trampoline_end - trampoline_start));

  for (unsigned id = 1; id < want; id++) Lapic::send_init(id);
  Clock::spin_us(10000);
  for (unsigned id = 1; id < want; id++) Lapic::send_sipi(id, TRAMP_BASE >> 12);
  Clock::spin_us(200);
  for (unsigned id = 1; id < want; id++)
    if (!cpus[id].online) Lapic::send_sipi(id, TRAMP_BASE >> 12);

  if (wait_until(all_online, reinterpret_cast<void*>(uintptr_t(want)), AP_TIMEOUT_US)) return;
  for (unsigned id = 1; id < want; id++)
    if (!cpus[id].online) kprintf("smp: cpu %u did not come up (no response to INIT/STARTUP)\n", id);
}

void Smp::ap_arrived() {
  __atomic_store_n(&Cpu::current().online, 1, __ATOMIC_RELEASE);
  __atomic_add_fetch(&online_, 1, __ATOMIC_ACQ_REL);
}

bool Smp::post(unsigned cpu, void (*fn)(void*), void* arg) {
  if (cpu >= MAX_CPUS || !cpus[cpu].online) return false;
  SmpCall& c = cpus[cpu].call;
  c.lock.lock();
  if (__atomic_load_n(&c.pending, __ATOMIC_ACQUIRE)) {  // one outstanding call per CPU
    c.lock.unlock();
    return false;
  }
  c.fn = fn;
  c.arg = arg;
  __atomic_store_n(&c.pending, 1, __ATOMIC_RELEASE);
  c.lock.unlock();
  Lapic::send_ipi(cpu, VEC_CALL);
  return true;
}

bool Smp::wait(unsigned cpu, u64 timeout_us) { return wait_until(call_done, &cpus[cpu], timeout_us); }

bool Smp::call(unsigned cpu, void (*fn)(void*), void* arg, u64 timeout_us) {
  return post(cpu, fn, arg) && wait(cpu, timeout_us);
}

void Smp::handle_call() {
  SmpCall& c = Cpu::current().call;
  if (!__atomic_load_n(&c.pending, __ATOMIC_ACQUIRE)) return;
  c.fn(c.arg);
  __atomic_store_n(&c.pending, 0, __ATOMIC_RELEASE);
}
