// Scheduler: per-CPU run queues (round robin), preemption by the LAPIC
// timer, pinning, idle by HLT, and a sleep list for timeouts.
//
// The kernel is not preemptible: it runs with interrupts off under the big
// kernel lock and never blocks inside a path. A system call that blocks
// marks its thread BLOCKED and ends with schedule(), which resumes another
// thread's saved user registers (or idles); the blocked thread later resumes
// in user mode with its result already in its frame.
#pragma once
#include "kernel/types.h"

class Thread;

class Sched {
 public:
  // Makes `t` ready on its pinned CPU, or a good CPU for an unpinned one
  // (its last CPU if idle, else an idle CPU, else the shortest queue); wakes that CPU.
  static void enqueue(Thread* t);

  // Takes a READY thread off its run queue.
  static void dequeue(Thread* t);

  // Interrupts CPU `cpu` so it re-schedules (IPI), unless it is this CPU.
  static void kick(unsigned cpu);

  // Timeouts: the thread is woken with -ETIMEDOUT at TSC `deadline`.
  static void sleep_add(Thread* t, u64 deadline);
  static void sleep_remove(Thread* t);

  // Timer tick work (BKL held): expire timeouts; ask for a switch if others wait here.
  static void tick(bool from_user);

  // Makes CPU 0's timer ticks always take the full path (the selftest watchdog).
  static void tick_everywhere(bool on);

  // Ends every kernel entry: resumes the current thread, or the next ready one, or idles.
  [[noreturn]] static void schedule();

  // The idle loop (BKL not held, interrupts off or on): never returns.
  [[noreturn]] static void idle();

  // For the idle loop.
  static Thread* pick_for_idle() { return pick(); }
  [[noreturn]] static void run_for_idle(Thread* t) { run(t); }

  // Context switches performed (all CPUs).
  static u64 switches() { return switches_; }

 private:
  // Picks (and dequeues) the next thread for this CPU, stealing an unpinned one if needed.
  static Thread* pick();

  // Resumes `t` in user mode on this CPU; releases the BKL.
  [[noreturn]] static void run(Thread* t);

  static Thread* sleepers_;
  static u64 switches_;
};

// entry.S: loads the user frame `f` (of the thread running here) and returns to ring 3.
extern "C" [[noreturn]] void resume_user(void* f);
