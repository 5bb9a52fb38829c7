// IrqNotification: a device interrupt (an IOAPIC pin) delivered to user mode
// as a Notification signal, plus the device's I/O-port range, which a thread
// holding the capability may be allowed to use (sys::IO_PERMIT).
#pragma once
#include "kernel/notification.h"

class IrqNotification : public Notification {
 public:
  static constexpr unsigned MAX_PINS = 24;

  IrqNotification() : Notification(ObjType::IrqNotification) {}

  // Binds IOAPIC `pin` (routed to CPU 0 at vector VEC_IRQ_BASE + pin) with ports [port_lo, port_hi].
  static IrqNotification* create(unsigned pin, u16 port_lo, u16 port_hi);
  static void destroy(IrqNotification* n);

  // From the interrupt vector VEC_IRQ_BASE + pin (BKL held): signals the bound object.
  static void dispatch(unsigned pin);

  unsigned pin = 0;
  u16 port_lo = 0, port_hi = 0;
  u64 count = 0;  // interrupts delivered

 private:
  static IrqNotification* bound_[MAX_PINS];
};
