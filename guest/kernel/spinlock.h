// Ticket spinlock (fair, lock xadd) and a guard that also disables interrupts.
#pragma once
#include "arch/x86/cpu.h"
#include "kernel/types.h"

class Spinlock {
 public:
  constexpr Spinlock() = default;

  // Takes the lock, spinning until it is free.
  void lock() {
    u32 ticket = __atomic_fetch_add(&next_, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&owner_, __ATOMIC_ACQUIRE) != ticket) x86::pause();
  }

  // Takes the lock if it is free; returns whether it did.
  bool try_lock() {
    u32 owner = __atomic_load_n(&owner_, __ATOMIC_RELAXED);
    u32 expected = owner;
    return __atomic_compare_exchange_n(&next_, &expected, owner + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
  }

  // Releases the lock.
  void unlock() { __atomic_store_n(&owner_, owner_ + 1, __ATOMIC_RELEASE); }

  // True if some CPU holds the lock.
  bool locked() const { return __atomic_load_n(&owner_, __ATOMIC_RELAXED) != __atomic_load_n(&next_, __ATOMIC_RELAXED); }

 private:
  u32 next_ = 0;
  u32 owner_ = 0;
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
