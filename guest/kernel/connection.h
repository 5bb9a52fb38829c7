// Connection: synchronous IPC. A client's call() carries four words to a
// server thread blocked in recv() and blocks until that server's reply().
// Messages travel in registers only (copied between the two threads' saved
// frames); bulk data goes through shared PMOs.
#pragma once
#include "kernel/thread.h"

class Connection : public Object {
 public:
  Connection() : Object(ObjType::Connection) {}

  static Connection* create();
  static void destroy(Connection* c);

  // Client `t` calls with words m[4]: hands them to a waiting server or queues.
  void call(Thread* t, const u64 m[4]);

  // Server `t` waits for a call: takes a queued caller or blocks.
  void recv(Thread* t);

  // Server `t` answers its current caller with words r[4]; returns an error if it has none.
  static i64 reply(Thread* t, const u64 r[4]);

  u64 calls = 0;

 private:
  // Moves caller's message into server's frame and links them.
  static void deliver(Thread* caller, Thread* server);

  WaitQueue servers_;  // servers blocked in recv
  WaitQueue callers_;  // callers waiting for a server
};
