#include "kernel/irq_notification.h"

#include "abi/syscall.h"

#include "arch/x86/ioapic.h"
#include "arch/x86/memory.h"
#include "kernel/descriptor.h"

IrqNotification* IrqNotification::bound_[MAX_PINS];

IrqNotification* IrqNotification::create(unsigned pin, u16 port_lo, u16 port_hi) {
  if (pin >= MAX_PINS || bound_[pin]) return nullptr;
  IrqNotification* n = knew<IrqNotification>();
  if (!n) return nullptr;
  n->pin = pin;
  n->port_lo = port_lo;
  n->port_hi = port_hi;
  bound_[pin] = n;
  Ioapic::route(pin, VEC_IRQ_BASE + pin, 0);
  Descriptor::created(ObjType::IrqNotification);
  return n;
}

void IrqNotification::destroy(IrqNotification* n) {
  Ioapic::mask(n->pin);
  bound_[n->pin] = nullptr;
  while (Thread* t = n->waiters.pop()) t->wake(-sys::EDEAD);
  Descriptor::destroyed(ObjType::IrqNotification);
  kdelete(n);
}

void IrqNotification::dispatch(unsigned pin) {
  if (pin >= MAX_PINS || !bound_[pin]) return;
  bound_[pin]->count++;
  bound_[pin]->signal();
}
