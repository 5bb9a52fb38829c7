#include "kernel/notification.h"

#include "abi/syscall.h"
#include "kernel/descriptor.h"
#include "kernel/irq_notification.h"

Notification* Notification::create() {
  Notification* n = knew<Notification>();
  if (n) Descriptor::created(ObjType::Notification);
  return n;
}

void Notification::destroy(Notification* n) {
  while (Thread* t = n->waiters.pop()) t->wake(-sys::EDEAD);
  Descriptor::destroyed(ObjType::Notification);
  kdelete(n);
}

void Notification::signal() {
  if (Thread* t = waiters.head) {
    t->wake(0);
    return;
  }
  pending++;
}

bool Notification::wait(Thread* t, u64 us) {
  if (pending) {
    pending--;
    return true;
  }
  t->block_on(&waiters, us);
  return false;
}

void Notification::signal_object(Object* o) {
  if (o->type == ObjType::Notification || o->type == ObjType::IrqNotification) static_cast<Notification*>(o)->signal();
}
