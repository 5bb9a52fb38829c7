// Thread: a user-mode execution context. Its saved registers (`frame`) are
// where the CPU and entry.S store them on every entry from ring 3 (TSS.rsp0
// points at the end of the frame of the thread running on that CPU), so no
// register is copied on a system call or a context switch.
#pragma once
#include "arch/x86/intr.h"
#include "kernel/object.h"

class CapGroup;
class VMSpace;
class Thread;

// A FIFO of blocked threads (intrusive through Thread::wq_*).
struct WaitQueue {
  Thread* head = nullptr;
  Thread* tail = nullptr;

  void push(Thread* t);
  Thread* pop();
  void unlink(Thread* t);
  bool empty() const { return !head; }
};

class Thread : public Object {
 public:
  enum State : u8 { READY, RUNNING, BLOCKED, DEAD };

  alignas(16) Frame frame{};     // user registers (must stay 16-byte aligned)
  u32 tid = 0;
  State state = BLOCKED;
  bool kill_pending = false;     // killed while running on another CPU
  bool io = false;               // may use the I/O ports of a granted device
  bool on_sleep_list = false;
  int affinity = -1;             // pinned CPU, -1: any
  unsigned cpu = 0;              // CPU it runs / last ran / is queued on
  CapGroup* group = nullptr;     // (a reference while alive)
  VMSpace* vms = nullptr;        // (a reference while alive)
  Thread* rq_next = nullptr;     // run queue
  Thread* rq_prev = nullptr;
  Thread* wq_next = nullptr;     // wait queue
  Thread* wq_prev = nullptr;
  WaitQueue* wq = nullptr;       // the queue it waits on
  Thread* sl_next = nullptr;     // sleep list (timeouts)
  u64 wake_at = 0;               // TSC deadline while on the sleep list
  Thread* g_next = nullptr;      // its CapGroup's thread list
  Thread* g_prev = nullptr;
  Thread* reply_to = nullptr;    // server: the caller awaiting our reply
  Thread* replier = nullptr;     // caller: the server handling our call
  Object* recv_on = nullptr;     // connection it receives on (server)

  Thread() : Object(ObjType::Thread) {}

  // Creates a thread of `g` in `vms` starting at `rip` with `rsp` and rdi = arg;
  // pinned to `cpu` (or any if < 0). It is made ready at once.
  static Thread* create(CapGroup* g, VMSpace* vms, u64 rip, u64 rsp, u64 arg, int cpu);

  // Called when the last reference goes (the thread is dead by then).
  static void destroy(Thread* t);

  // Ends the thread: now if it is not running elsewhere, else at that CPU's next kernel entry.
  void kill();

  // Ends the thread on this CPU (it is not running on another one): leaves
  // every queue, drops its references; the CapGroup finishes with its last thread.
  void finalize();

  // Blocks the calling thread (this) on `q` (may be nullptr), with a timeout if `us` > 0.
  void block_on(WaitQueue* q, u64 us);

  // Wakes a blocked thread with rax = `ret`.
  void wake(i64 ret);

  // Hook run when a process has finished (selftest bookkeeping, init's end).
  static void on_process_exit(CapGroup* g);

  // Live threads.
  static unsigned count() { return count_; }

 private:
  static u32 next_tid_;
  static unsigned count_;
};
