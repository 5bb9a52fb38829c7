// Spinlock and a guard that also disables interrupts.
#pragma once
#include "arch/x86/cpu.h"
#include "kernel/types.h"

// Test-and-test-and-set lock. Deliberately not a ticket lock: vCPUs are
// often overcommitted (8 vCPUs on 2 host cores here), and a fair lock then
// stalls every waiter whenever the vCPU whose turn it is is not running.
class Spinlock {
 public:
  constexpr Spinlock() = default;

  // Takes the lock, spinning until it is free.
  void lock() {
    while (__atomic_exchange_n(&locked_, 1, __ATOMIC_ACQUIRE))
      while (__atomic_load_n(&locked_, __ATOMIC_RELAXED)) x86::pause();
  }

  // Takes the lock if it is free; returns whether it did.
  bool try_lock() { return !__atomic_load_n(&locked_, __ATOMIC_RELAXED) && !__atomic_exchange_n(&locked_, 1, __ATOMIC_ACQUIRE); }

  // Releases the lock.
  void unlock() { __atomic_store_n(&locked_, 0, __ATOMIC_RELEASE); }

  // True if some CPU holds the lock.
  bool locked() const { return __atomic_load_n(&locked_, __ATOMIC_RELAXED); }

 private:
  u32 locked_ = 0;
};

// Holds a spinlock with interrupts disabled for the guard's lifetime.
class IrqLockGuard {
 public:
  explicit IrqLockGuard(Spinlock& l) : lock_(l), flags_(x86::irq_save()) { lock_.lock(); }
  ~IrqLockGuard() {
    lock_.unlock();
    x86::irq_restore(flags_);
  }
  IrqLockGuard(const IrqLockGuard&) = delete;
  IrqLockGuard& operator=(const IrqLockGuard&) = delete;

 private:
  Spinlock& lock_;
  u64 flags_;
};
