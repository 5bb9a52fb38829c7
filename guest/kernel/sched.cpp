#include "kernel/sched.h"

#include "abi/syscall.h"

#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "arch/x86/memory.h"
#include "kernel/clock.h"
#include "kernel/console.h"
#include "kernel/descriptor.h"
#include "kernel/object.h"
#include "kernel/paging.h"
#include "kernel/percpu.h"
#include "kernel/selftest.h"
#include "kernel/smp.h"
#include "kernel/thread.h"
#include "kernel/vmspace.h"

Thread* Sched::sleepers_;
extern "C" {
u64 sched_next_wake = ~0ull;  // earliest timeout (TSC), read by entry.S's timer fast path
}
u64 Sched::switches_;

namespace {

bool tick_always;  // selftest: CPU 0's ticks run the watchdog

// Timer ticks from user mode take the full path while others wait here.
void update_tick_slow(Cpu& c) { c.tick_slow = c.rq.count || (tick_always && c.id == 0); }

void rq_push(RunQueue& q, Thread* t) {
  t->rq_next = nullptr;
  t->rq_prev = q.tail;
  if (q.tail) q.tail->rq_next = t;
  else q.head = t;
  q.tail = t;
  q.count++;
  update_tick_slow(cpus[t->cpu]);
}

void rq_unlink(RunQueue& q, Thread* t) {
  if (t->rq_prev) t->rq_prev->rq_next = t->rq_next;
  else q.head = t->rq_next;
  if (t->rq_next) t->rq_next->rq_prev = t->rq_prev;
  else q.tail = t->rq_prev;
  t->rq_next = t->rq_prev = nullptr;
  q.count--;
  update_tick_slow(*reinterpret_cast<Cpu*>(reinterpret_cast<char*>(&q) - __builtin_offsetof(Cpu, rq)));
}

// Load of a CPU for placement: threads queued plus the one running.
unsigned load(const Cpu& c) { return c.rq.count + (c.thread ? 1 : 0); }

}  // namespace

void Sched::enqueue(Thread* t) {
  unsigned target;
  if (t->affinity >= 0 && t->affinity < MAX_CPUS && cpus[t->affinity].online) {
    target = unsigned(t->affinity);
  } else {
    target = t->cpu < MAX_CPUS && cpus[t->cpu].online ? t->cpu : Cpu::current().id;
    if (load(cpus[target])) {
      for (unsigned i = 0; i < MAX_CPUS; i++)
        if (cpus[i].online && load(cpus[i]) < load(cpus[target])) target = i;
    }
  }
  t->cpu = target;
  t->state = Thread::READY;
  rq_push(cpus[target].rq, t);
  if (target != Cpu::current().id && (cpus[target].idle || !cpus[target].thread)) kick(target);
}

void Sched::dequeue(Thread* t) { rq_unlink(cpus[t->cpu].rq, t); }

void Sched::kick(unsigned cpu) {
  if (cpu != Cpu::current().id && cpus[cpu].online) Lapic::send_ipi(cpu, VEC_RESCHED);
}

void Sched::sleep_add(Thread* t, u64 deadline) {
  t->wake_at = deadline;
  t->on_sleep_list = true;
  Thread** p = &sleepers_;
  while (*p && i64((*p)->wake_at - deadline) <= 0) p = &(*p)->sl_next;
  t->sl_next = *p;
  *p = t;
  sched_next_wake = sleepers_->wake_at;
}

void Sched::sleep_remove(Thread* t) {
  for (Thread** p = &sleepers_; *p; p = &(*p)->sl_next) {
    if (*p == t) {
      *p = t->sl_next;
      break;
    }
  }
  t->sl_next = nullptr;
  t->on_sleep_list = false;
  sched_next_wake = sleepers_ ? sleepers_->wake_at : ~0ull;
}

void Sched::tick_everywhere(bool on) {
  tick_always = on;
  update_tick_slow(cpus[0]);
}

void Sched::tick(bool from_user) {
  u64 now = Clock::now();
  while (sleepers_ && i64(now - sleepers_->wake_at) >= 0) {
    Thread* t = sleepers_;
    sleep_remove(t);
    t->wake(-sys::ETIMEDOUT);
  }
  Cpu& c = Cpu::current();
  if (from_user && c.rq.count) c.need_resched = true;
  if (c.id == 0) Selftest::watchdog();
}

Thread* Sched::pick() {
  Cpu& c = Cpu::current();
  if (Thread* t = c.rq.head) {
    rq_unlink(c.rq, t);
    return t;
  }
  // Steal an unpinned thread from the busiest other CPU that has one waiting.
  for (unsigned i = 0; i < MAX_CPUS; i++) {
    if (i == c.id || !cpus[i].online) continue;
    for (Thread* t = cpus[i].rq.head; t; t = t->rq_next) {
      if (t->affinity < 0) {
        rq_unlink(cpus[i].rq, t);
        t->cpu = c.id;
        return t;
      }
    }
  }
  return nullptr;
}

void Sched::run(Thread* t) {
  Cpu& c = Cpu::current();
  if (c.thread != t) switches_++;
  c.thread = t;
  c.need_resched = false;
  t->state = Thread::RUNNING;
  t->cpu = c.id;
  c.tss.rsp[0] = reinterpret_cast<u64>(&t->frame + 1);
  c.tss.iomap_base = t->io ? Tss::IOMAP_OFFSET : Tss::NO_IOMAP;
  c.load_cr3(t->vms->root());
  Descriptor::cpu_current(c.id, t->tid);
  Bkl::unlock();
  resume_user(&t->frame);
}

void Sched::schedule() {
  Cpu& c = Cpu::current();
  Thread* cur = c.thread;
  if (cur && cur->state == Thread::RUNNING) {
    if (!c.need_resched || !c.rq.count) {  // the common case: back to the same thread
      c.need_resched = false;
      Bkl::unlock();
      resume_user(&cur->frame);
    }
    cur->state = Thread::READY;
    rq_push(c.rq, cur);  // round robin: to the tail of our own queue
  }
  c.thread = nullptr;
  if (Thread* t = pick()) run(t);
  Bkl::unlock();
  idle();
}

namespace {

[[noreturn]] void idle_loop() {
  Cpu& c = Cpu::current();
  for (;;) {
    x86::cli();
    Bkl::lock();
    c.thread = nullptr;
    Sched::tick(false);
    if (Thread* t = Sched::pick_for_idle()) {
      c.idle = 0;
      Sched::run_for_idle(t);
    }
    c.load_cr3(PageTable::kernel().root());
    Descriptor::cpu_current(c.id, 0);
    c.idle = 1;
    Bkl::unlock();
    x86::sti_hlt();
  }
}

}  // namespace

extern "C" [[noreturn]] void on_fresh_stack(void (*fn)());  // entry.S

// Resets to the top of this CPU's kernel stack (nothing below is live) and idles.
void Sched::idle() { on_fresh_stack(idle_loop); }
