#include "kernel/connection.h"

#include "abi/syscall.h"
#include "kernel/descriptor.h"

// Message words live in rsi, rdx, r10, r8 of the frames.
namespace {
void put_words(Frame& f, const u64 m[4]) {
  f.rsi = m[0];
  f.rdx = m[1];
  f.r10 = m[2];
  f.r8 = m[3];
}
}  // namespace

Connection* Connection::create() {
  Connection* c = knew<Connection>();
  if (c) Descriptor::created(ObjType::Connection);
  return c;
}

void Connection::destroy(Connection* c) {
  while (Thread* t = c->servers_.pop()) t->wake(-sys::EDEAD);
  while (Thread* t = c->callers_.pop()) t->wake(-sys::EDEAD);
  Descriptor::destroyed(ObjType::Connection);
  kdelete(c);
}

void Connection::deliver(Thread* caller, Thread* server) {
  const u64 m[4] = {caller->frame.rsi, caller->frame.rdx, caller->frame.r10, caller->frame.r8};
  put_words(server->frame, m);
  server->reply_to = caller;
  caller->replier = server;
  caller->state = Thread::BLOCKED;  // until the reply
}

void Connection::call(Thread* t, const u64 m[4]) {
  calls++;
  put_words(t->frame, m);
  if (Thread* s = servers_.pop()) {
    deliver(t, s);
    s->wake(0);
  } else {
    t->block_on(&callers_, 0);
  }
}

void Connection::recv(Thread* t) {
  if (Thread* c = callers_.pop()) {
    deliver(c, t);
    t->frame.rax = 0;
    return;
  }
  t->block_on(&servers_, 0);
}

i64 Connection::reply(Thread* t, const u64 r[4]) {
  Thread* c = t->reply_to;
  if (!c) return -sys::ENOENT;
  t->reply_to = nullptr;
  c->replier = nullptr;
  put_words(c->frame, r);
  c->wake(0);
  return 0;
}
