#include "kernel/object.h"

#include "abi/syscall.h"

#include "arch/x86/memory.h"
#include "kernel/cap_group.h"
#include "kernel/connection.h"
#include "kernel/irq_notification.h"
#include "kernel/notification.h"
#include "kernel/page_alloc.h"
#include "kernel/percpu.h"
#include "kernel/pmo.h"
#include "kernel/thread.h"
#include "kernel/vmspace.h"

Spinlock Bkl::lock_;
void* Kmem::free_[7];
u64 Kmem::live_;

void Bkl::lock() {
  while (!lock_.try_lock()) {
    Cpu& c = Cpu::current();
    if (__atomic_load_n(&c.flush_pending, __ATOMIC_ACQUIRE)) c.flush_tlb();
    x86::pause();
  }
}

void Object::put() {
  if (--refs) return;
  switch (type) {
    case ObjType::CapGroup: CapGroup::destroy(static_cast<CapGroup*>(this)); break;
    case ObjType::Thread: Thread::destroy(static_cast<Thread*>(this)); break;
    case ObjType::VMSpace: VMSpace::destroy(static_cast<VMSpace*>(this)); break;
    case ObjType::Pmo: Pmo::destroy(static_cast<Pmo*>(this)); break;
    case ObjType::Connection: Connection::destroy(static_cast<Connection*>(this)); break;
    case ObjType::Notification: Notification::destroy(static_cast<Notification*>(this)); break;
    case ObjType::IrqNotification: IrqNotification::destroy(static_cast<IrqNotification*>(this)); break;
  }
}

unsigned Kmem::cls(size_t size) {
  unsigned c = 0;
  while ((64u << c) < size) c++;
  return c;
}

void* Kmem::alloc(size_t size) {
  if (size > PAGE_SIZE) return nullptr;
  unsigned c = cls(size);
  if (!free_[c]) {
    Paddr page = PageAlloc::alloc();
    if (!page) return nullptr;
    size_t sz = 64u << c;
    char* base = phys_to_virt<char>(page);
    for (size_t off = 0; off < PAGE_SIZE; off += sz) {
      *reinterpret_cast<void**>(base + off) = free_[c];
      free_[c] = base + off;
    }
  }
  void* p = free_[c];
  free_[c] = *static_cast<void**>(p);
  live_++;
  return p;
}

void Kmem::free(void* p, size_t size) {
  unsigned c = cls(size);
  *static_cast<void**>(p) = free_[c];
  free_[c] = p;
  live_--;
}
