#include "kernel/thread.h"

#include "abi/syscall.h"

#include "arch/x86/memory.h"
#include "kernel/cap_group.h"
#include "kernel/clock.h"
#include "kernel/console.h"
#include "kernel/descriptor.h"
#include "kernel/percpu.h"
#include "kernel/paging.h"
#include "kernel/power.h"
#include "kernel/sched.h"
#include "kernel/vmspace.h"

u32 Thread::next_tid_ = 1;
unsigned Thread::count_;

void WaitQueue::push(Thread* t) {
  t->wq = this;
  t->wq_next = nullptr;
  t->wq_prev = tail;
  if (tail) tail->wq_next = t;
  else head = t;
  tail = t;
}

Thread* WaitQueue::pop() {
  Thread* t = head;
  if (t) unlink(t);
  return t;
}

void WaitQueue::unlink(Thread* t) {
  if (t->wq_prev) t->wq_prev->wq_next = t->wq_next;
  else head = t->wq_next;
  if (t->wq_next) t->wq_next->wq_prev = t->wq_prev;
  else tail = t->wq_prev;
  t->wq = nullptr;
  t->wq_next = t->wq_prev = nullptr;
}

Thread* Thread::create(CapGroup* g, VMSpace* vms, u64 rip, u64 rsp, u64 arg, int cpu) {
  if (g->state != hsls_desc::PROC_RUNNING) return nullptr;
  Thread* t = knew<Thread>();
  if (!t) return nullptr;
  t->tid = next_tid_++;
  t->frame.rip = rip;
  t->frame.rsp = rsp;
  t->frame.rdi = arg;
  t->frame.cs = SEL_UCODE;
  t->frame.ss = SEL_UDATA;
  t->frame.rflags = 0x202;  // IF
  t->affinity = cpu;
  t->group = g;
  t->vms = vms;
  t->refs = 1;  // alive
  g->get();
  vms->get();
  t->g_next = g->threads;
  if (g->threads) g->threads->g_prev = t;
  g->threads = t;
  g->nthreads++;
  count_++;
  Descriptor::created(ObjType::Thread);
  Descriptor::proc_update(g);
  Sched::enqueue(t);
  return t;
}

void Thread::destroy(Thread* t) {
  Descriptor::destroyed(ObjType::Thread);
  kdelete(t);
}

void Thread::kill() {
  if (state == DEAD) return;
  if (state == RUNNING && cpu != Cpu::current().id) {
    kill_pending = true;
    Sched::kick(cpu);
    return;
  }
  finalize();
}

void Thread::finalize() {
  if (state == DEAD) return;
  Cpu& me = Cpu::current();
  if (state == READY) Sched::dequeue(this);
  if (wq) wq->unlink(this);
  if (on_sleep_list) Sched::sleep_remove(this);
  if (reply_to) {  // a caller waits for our reply: it gets an error
    reply_to->replier = nullptr;
    reply_to->wake(-sys::EDEAD);
    reply_to = nullptr;
  }
  if (replier) {  // we wait for a server's reply: it must not write into us
    replier->reply_to = nullptr;
    replier = nullptr;
  }
  if (me.thread == this) {
    me.thread = nullptr;
    me.load_cr3(PageTable::kernel().root());
  }
  state = DEAD;
  kill_pending = false;
  if (g_prev) g_prev->g_next = g_next;
  else group->threads = g_next;
  if (g_next) g_next->g_prev = g_prev;
  CapGroup* g = group;
  VMSpace* v = vms;
  count_--;
  g->nthreads--;
  Descriptor::proc_update(g);
  if (!g->nthreads) {
    if (g->state == hsls_desc::PROC_RUNNING) {
      g->state = hsls_desc::PROC_EXITED;
      g->exit_code = 0;
    }
    g->finish();
  }
  v->put();
  g->put();
  put();  // the "alive" reference
}

void Thread::block_on(WaitQueue* q, u64 us) {
  state = BLOCKED;
  if (q) q->push(this);
  if (us) Sched::sleep_add(this, Clock::deadline(us));
}

void Thread::wake(i64 ret) {
  if (state != BLOCKED) return;
  if (wq) wq->unlink(this);
  if (on_sleep_list) Sched::sleep_remove(this);
  frame.rax = u64(ret);
  Sched::enqueue(this);
}

void Thread::on_process_exit(CapGroup* g) {
  if (g == CapGroup::root) {
    kprintf("kernel: init exited with %d; powering off\n", g->exit_code);
    Power::off(g->exit_code ? 1 : 0);
  }
}
