#include "kernel/syscall.h"

#include "abi/syscall.h"
#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "arch/x86/memory.h"
#include "kernel/boot_info.h"
#include "kernel/cap_group.h"
#include "kernel/clock.h"
#include "kernel/connection.h"
#include "kernel/console.h"
#include "kernel/descriptor.h"
#include "kernel/irq_notification.h"
#include "kernel/loader.h"
#include "kernel/notification.h"
#include "kernel/page_alloc.h"
#include "kernel/percpu.h"
#include "kernel/pmo.h"
#include "kernel/power.h"
#include "kernel/sched.h"
#include "kernel/selftest.h"
#include "kernel/smp.h"
#include "kernel/thread.h"
#include "kernel/vmspace.h"

using namespace sys;

namespace {

// Copies a user string of at most `max` bytes (not NUL-terminated) into buf; returns its length or -1.
i64 user_buf(char* buf, u64 uaddr, u64 len, u64 max) {
  if (len > max || uaddr >= USER_LIMIT || len > USER_LIMIT - uaddr) return -1;
  if (len && copy_user(buf, reinterpret_cast<const void*>(uaddr), len)) return -1;
  return i64(len);
}

// Copies a NUL-terminated user string (at most max - 1 bytes) into buf; returns its length or -1.
i64 user_str(char* buf, u64 uaddr, u64 max) {
  u64 n = 0;
  while (n + 1 < max) {
    if (uaddr + n >= USER_LIMIT || copy_user(buf + n, reinterpret_cast<const void*>(uaddr + n), 1)) return -1;
    if (!buf[n]) return i64(n);
    n++;
  }
  buf[n] = 0;
  return i64(n);
}

i64 sys_puts(Thread*, u64 uaddr, u64 len) {
  char buf[256];
  if (len > sizeof buf - 1) len = sizeof buf - 1;
  if (user_buf(buf, uaddr, len, sizeof buf - 1) < 0) return -EFAULT;
  buf[len] = 0;
  Console::print("%s", buf);
  return i64(len);
}

i64 sys_spawn(Thread* t, const Frame& f) {
  char name[16], args[256];
  i64 n = user_str(name, f.rdi, sizeof name);
  i64 a = f.rsi ? user_str(args, f.rsi, sizeof args) : 0;
  if (n <= 0 || a < 0) return -EFAULT;
  CapGroup* g = t->group;
  Cap* ctl = nullptr;
  if (i64(f.rdx) >= 0 && !(ctl = g->lookup(i64(f.rdx), ObjType::Connection, R_GRANT))) return -ENOCAP;
  Object* notif = nullptr;
  if (i64(f.r10) >= 0) {
    Cap* c = g->at(i64(f.r10));
    if (!c || (c->obj->type != ObjType::Notification && c->obj->type != ObjType::IrqNotification) ||
        !(c->rights & R_WRITE))
      return -ENOCAP;
    notif = c->obj;
  }
  PassCap pass[MAX_PASSED];
  unsigned npass = 0;
  for (u64 list = f.r9; npass < MAX_PASSED && (list & 0xff) != 0xff; list >>= 8) {
    Cap* c = g->at(i64(list & 0xff));
    if (!c) return -ENOCAP;
    if (!(c->rights & R_GRANT)) return -EPERM;
    pass[npass++] = PassCap{c, nullptr, R_ALL};
  }
  i64 slot = -1, err = 0;
  CapGroup* child =
      Loader::spawn(name, unsigned(n), args, unsigned(a), g, ctl, int(i64(f.r8)), &slot, &err, pass, npass);
  if (!child) return err;
  if (notif) {
    notif->get();
    child->exit_notify = notif;
  }
  return slot;
}

// Runs one system call for `t`; the result goes to its frame's rax unless it blocked.
void syscall(Thread* t) {
  Frame& f = t->frame;
  CapGroup* g = t->group;
  i64 r = -ENOSYS;
  switch (f.rax) {
    case PUTS: r = sys_puts(t, f.rdi, f.rsi); break;
    case EXIT: g->exit(hsls_desc::PROC_EXITED, i32(f.rdi)); return;
    case THREAD_EXIT: t->kill(); return;
    case YIELD: Cpu::current().need_resched = true; r = 0; break;
    case SLEEP: t->block_on(nullptr, f.rdi ? f.rdi : 1); return;
    case THREAD_CREATE: {
      if (f.rdi >= USER_LIMIT || f.rsi >= USER_LIMIT) { r = -EINVAL; break; }
      i64 cpu = i64(f.r10);
      if (cpu >= 0 && (cpu >= MAX_CPUS || !cpus[cpu].online)) { r = -EINVAL; break; }
      Thread* n = Thread::create(g, t->vms, f.rdi, f.rsi, f.rdx, int(cpu));
      if (!n) { r = -ENOMEM; break; }
      r = g->install(n, R_ALL);
      break;
    }
    case CAP_COPY: {
      Cap* c = g->at(i64(f.rdi));
      if (!c) { r = -ENOCAP; break; }
      if (!(c->rights & R_GRANT)) { r = -EPERM; break; }
      CapGroup* dest = g;
      if (i64(f.rsi) >= 0) {
        Cap* d = g->lookup(i64(f.rsi), ObjType::CapGroup, R_WRITE);
        if (!d) { r = -ENOCAP; break; }
        dest = static_cast<CapGroup*>(d->obj);
      }
      r = CapGroup::derive(c, dest, u32(f.rdx));
      break;
    }
    case CAP_REVOKE: {
      Cap* c = g->at(i64(f.rdi));
      if (!c) { r = -ENOCAP; break; }
      CapGroup::revoke(c);
      r = 0;
      break;
    }
    case CAP_DELETE: {
      Cap* c = g->at(i64(f.rdi));
      if (!c || i64(f.rdi) == SLOT_SELF) { r = -ENOCAP; break; }
      CapGroup::remove(c);
      r = 0;
      break;
    }
    case CAP_INFO: {
      Cap* c = g->at(i64(f.rdi));
      r = c ? i64((u64(c->obj->type) << 32) | c->rights) : -ENOCAP;
      break;
    }
    case PMO_CREATE: {
      if (f.rsi != PMO_ANON && f.rsi != PMO_DMA) { r = -EINVAL; break; }
      Pmo* p = Pmo::create(f.rdi, f.rsi == PMO_DMA ? Pmo::DMA : Pmo::ANON);
      if (!p) { r = -ENOMEM; break; }
      r = g->install(p, R_ALL);
      if (r < 0) { p->get(); p->put(); }
      break;
    }
    case VM_MAP: {
      u32 need = u32(R_MAP) | ((f.rdx & PROT_WRITE) ? u32(R_WRITE) : 0u) | u32(R_READ);
      Cap* c = g->lookup(i64(f.rdi), ObjType::Pmo, need);
      r = c ? t->vms->map(static_cast<Pmo*>(c->obj), f.rsi, u32(f.rdx)) : -ENOCAP;
      break;
    }
    case VM_UNMAP: r = t->vms->unmap(f.rdi); break;
    case PMO_PADDR: {
      Cap* c = g->lookup(i64(f.rdi), ObjType::Pmo, R_READ);
      Pmo* p = c ? static_cast<Pmo*>(c->obj) : nullptr;
      if (!p) { r = -ENOCAP; break; }
      if (p->kind == Pmo::ANON) { r = -EPERM; break; }
      Paddr pa = p->page(f.rsi, true);
      r = pa ? i64(pa + (f.rsi ? 0 : p->window)) : -EINVAL;
      break;
    }
    case PMO_PAGES: {
      Cap* c = g->lookup(i64(f.rdi), ObjType::Pmo, 0);
      r = c ? i64(static_cast<Pmo*>(c->obj)->pages) : -ENOCAP;
      break;
    }
    case NOTIF_CREATE: {
      Notification* n = Notification::create();
      if (!n) { r = -ENOMEM; break; }
      r = g->install(n, R_ALL);
      break;
    }
    case SIGNAL: {
      Cap* c = g->at(i64(f.rdi));
      if (!c || (c->obj->type != ObjType::Notification && c->obj->type != ObjType::IrqNotification)) { r = -ENOCAP; break; }
      if (!(c->rights & R_WRITE)) { r = -EPERM; break; }
      static_cast<Notification*>(c->obj)->signal();
      r = 0;
      break;
    }
    case WAIT: {
      Cap* c = g->at(i64(f.rdi));
      if (!c || (c->obj->type != ObjType::Notification && c->obj->type != ObjType::IrqNotification)) { r = -ENOCAP; break; }
      if (!(c->rights & R_READ)) { r = -EPERM; break; }
      if (static_cast<Notification*>(c->obj)->wait(t, f.rsi)) { r = 0; break; }
      return;  // blocked
    }
    case CONN_CREATE: {
      Connection* c = Connection::create();
      if (!c) { r = -ENOMEM; break; }
      r = g->install(c, R_ALL);
      break;
    }
    case IPC_CALL: {
      Cap* c = g->lookup(i64(f.rdi), ObjType::Connection, R_WRITE);
      if (!c) { r = -ENOCAP; break; }
      const u64 m[4] = {f.rsi, f.rdx, f.r10, f.r8};
      static_cast<Connection*>(c->obj)->call(t, m);
      return;  // blocked (or delivered and blocked until the reply)
    }
    case IPC_RECV: {
      Cap* c = g->lookup(i64(f.rdi), ObjType::Connection, R_READ);
      if (!c) { r = -ENOCAP; break; }
      if (t->reply_to) { r = -EBUSY; break; }
      static_cast<Connection*>(c->obj)->recv(t);
      return;
    }
    case IPC_REPLY: {
      const u64 m[4] = {f.rsi, f.rdx, f.r10, f.r8};
      r = Connection::reply(t, m);
      break;
    }
    case SPAWN: r = sys_spawn(t, f); break;
    case PROC_STATUS: {
      Cap* c = g->lookup(i64(f.rdi), ObjType::CapGroup, R_READ);
      if (!c) { r = -ENOCAP; break; }
      auto* p = static_cast<CapGroup*>(c->obj);
      r = i64((u64(p->state) << 32) | u32(p->exit_code));
      break;
    }
    case IO_PERMIT: {
      Cap* c = g->lookup(i64(f.rdi), ObjType::IrqNotification, R_WRITE);
      if (!c) { r = -ENOCAP; break; }
      if (!static_cast<IrqNotification*>(c->obj)->port_hi) { r = -EPERM; break; }
      t->io = true;
      Cpu::current().tss.iomap_base = Tss::IOMAP_OFFSET;
      r = 0;
      break;
    }
    case POWEROFF:
      if (g != CapGroup::root) { r = -EPERM; break; }
      Power::off(u32(f.rdi));
    case INFO:
      switch (f.rdi) {
        case INFO_TSC_HZ: r = i64(Clock::tsc_hz()); break;
        case INFO_CPUS: r = Smp::online(); break;
        case INFO_CPU: r = Cpu::current().id; break;
        case INFO_PID: r = g->pid; break;
        case INFO_TICKS: r = i64(Cpu::current().ticks); break;
        case INFO_FREE_PAGES: r = i64(PageAlloc::free_pages_fast()); break;
        case INFO_RAM_END: r = i64(BootInfo::ram_end()); break;
        default: r = -EINVAL;
      }
      break;
    case TEST_DONE:
      if (g != CapGroup::root) { r = -EPERM; break; }
      Selftest::finish(unsigned(f.rdi), unsigned(f.rsi));
    default: break;
  }
  f.rax = u64(r);
}

const char* const vector_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#09", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23", "#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31"};

}  // namespace

void kill_faulting(Frame* f, unsigned vector, u64 addr) {
  Thread* t = Cpu::current().thread;
  CapGroup* g = t->group;
  Console::print("fault: %s (pid %u) killed: %s addr=0x%lx rip=0x%lx error=0x%lx thread=%u cpu=%u\n", g->name, g->pid,
                 vector_names[vector & 31], addr, f->rip, f->error, t->tid, Cpu::current().id);
  g->exit(hsls_desc::PROC_KILLED, i32(128 + vector));
}

extern "C" void user_trap(Frame* f) {
  // CR2 first: anything below (the EOI, a TLB flush, the lock) may fault and
  // replace it (a nested fault the kernel fixes up).
  const u64 fault_addr = x86::read_cr2();
  Cpu& c = Cpu::current();
  unsigned v = unsigned(f->vector) & 0xff;
  if (v >= 32 && v != VEC_SPURIOUS && v != VEC_TIMER_SLOW) Lapic::eoi();
  if (c.flush_pending) c.flush_tlb();
  Bkl::lock();
  Thread* t = c.thread;
  if (t->kill_pending) {
    t->finalize();
    Sched::schedule();
  }
  if (v == 3) {
    syscall(t);
  } else if (v == 14) {
    if (!t->vms->fault(fault_addr, f->error & 2)) kill_faulting(f, v, fault_addr);
  } else if (v == 13 && Clock::emulate_user_tsc(f)) {
    // rdtsc/rdtscp on a virtual clock: answered
  } else if (v < 32) {
    kill_faulting(f, v, 0);
  } else if (v == VEC_TIMER_SLOW) {
    Sched::tick(true);
  } else if (v == VEC_CALL) {
    Smp::handle_call();
  } else if (v >= VEC_IRQ_BASE && v < VEC_IRQ_BASE + IrqNotification::MAX_PINS) {
    IrqNotification::dispatch(v - VEC_IRQ_BASE);
  }
  Sched::schedule();
}
