// Notification: a counting signal. signal() wakes one waiter or counts;
// wait() consumes a count or blocks (optionally with a timeout).
#pragma once
#include "kernel/thread.h"

class Notification : public Object {
 public:
  Notification() : Object(ObjType::Notification) {}
  explicit Notification(ObjType t) : Object(t) {}

  static Notification* create();
  static void destroy(Notification* n);

  // Wakes the first waiter (rax = 0) or adds one pending count.
  void signal();

  // For the calling thread `t`: returns true (count consumed) or blocks it
  // (timeout `us`, 0 = none) and returns false.
  bool wait(Thread* t, u64 us);

  // Signals a Notification or IrqNotification named by a plain object pointer.
  static void signal_object(Object* o);

  u64 pending = 0;
  WaitQueue waiters;
};
