// Kernel objects: the common header (kind + reference count), the small-object
// allocator they live in, and the big kernel lock that serialises every
// kernel path touching them.
//
// Every kernel object is reachable from the root CapGroup through
// capabilities (see cap_group.h). All object operations run with the big
// kernel lock held and interrupts off, so reference counts are plain integers.
#pragma once
#include "abi/descriptor.h"
#include "kernel/spinlock.h"
#include "kernel/types.h"

enum class ObjType : u8 {
  CapGroup = hsls_desc::OBJ_CAPGROUP,
  Thread = hsls_desc::OBJ_THREAD,
  VMSpace = hsls_desc::OBJ_VMSPACE,
  Pmo = hsls_desc::OBJ_PMO,
  Connection = hsls_desc::OBJ_CONNECTION,
  Notification = hsls_desc::OBJ_NOTIFICATION,
  IrqNotification = hsls_desc::OBJ_IRQNOTIFICATION,
};

// Common header of every kernel object.
struct Object {
  ObjType type;
  u32 refs = 0;

  explicit Object(ObjType t) : type(t) {}

  // Takes a reference.
  void get() { refs++; }

  // Drops a reference; destroys the object (kind-specific) when none are left.
  void put();
};

// The big kernel lock. Taken on every entry from user mode and by the idle
// loop; never held with interrupts enabled. Waiters keep answering TLB
// shoot-down requests (Cpu::flush_pending) so a holder may wait for them.
class Bkl {
 public:
  static void lock();
  static void unlock() { lock_.unlock(); }
  static bool held() { return lock_.locked(); }

 private:
  static Spinlock lock_;
};

// Holds the big kernel lock with interrupts off (for kernel-internal callers).
class BklGuard {
 public:
  BklGuard() : flags_(x86::irq_save()) { Bkl::lock(); }
  ~BklGuard() {
    Bkl::unlock();
    x86::irq_restore(flags_);
  }
  BklGuard(const BklGuard&) = delete;
  BklGuard& operator=(const BklGuard&) = delete;

 private:
  u64 flags_;
};

// Small-object allocator: power-of-two classes from 64 bytes to one page,
// carved from pages of the page allocator (contents undefined).
class Kmem {
 public:
  static void* alloc(size_t size);
  static void free(void* p, size_t size);
  static u64 live() { return live_; }  // objects allocated and not freed

 private:
  static unsigned cls(size_t size);
  static void* free_[7];
  static u64 live_;
};

// Allocates and constructs a T in kernel memory.
template <typename T, typename... A>
T* knew(A... args) {
  void* p = Kmem::alloc(sizeof(T));
  return p ? new (p) T(args...) : nullptr;
}

// Destroys and frees an object made by knew.
template <typename T>
void kdelete(T* p) {
  p->~T();
  Kmem::free(p, sizeof(T));
}

// Placement new (no <new> in a freestanding build without libstdc++ headers).
inline void* operator new(size_t, void* p) noexcept { return p; }
