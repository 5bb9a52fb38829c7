#include "kernel/cap_group.h"

#include "arch/x86/memory.h"
#include "kernel/console.h"
#include "kernel/descriptor.h"
#include "kernel/notification.h"
#include "kernel/paging.h"
#include "kernel/percpu.h"
#include "kernel/thread.h"
#include "kernel/vmspace.h"

u32 CapGroup::next_pid_ = 1;
CapGroup* CapGroup::root;

CapGroup* CapGroup::create(const char* name, CapGroup* parent, bool process) {
  CapGroup* g = knew<CapGroup>();
  if (!g) return nullptr;
  g->pid = process ? next_pid_++ : 0;
  g->parent_pid = parent ? parent->pid : 0;
  for (unsigned i = 0; i + 1 < NAME_LEN && name[i]; i++) g->name[i] = name[i];
  Descriptor::created(ObjType::CapGroup);
  if (process) Descriptor::proc_add(g);
  return g;
}

void CapGroup::destroy(CapGroup* g) {
  // The table is empty once the process finished; a CapGroup that never ran
  // (or the selftest's) may still hold capabilities.
  for (unsigned i = 0; i < SLOTS; i++)
    if (g->slots_[i].obj) remove(&g->slots_[i]);
  if (g->exit_notify) g->exit_notify->put();
  Descriptor::proc_remove(g);
  Descriptor::destroyed(ObjType::CapGroup);
  kdelete(g);
}

Cap* CapGroup::at(i64 slot) {
  if (slot < 0 || slot >= SLOTS || !slots_[slot].obj) return nullptr;
  return &slots_[slot];
}

Cap* CapGroup::lookup(i64 slot, ObjType type, u32 rights) {
  Cap* c = at(slot);
  if (!c || c->obj->type != type || (c->rights & rights) != rights) return nullptr;
  return c;
}

i64 CapGroup::install(Object* obj, u32 rights, i64 at) {
  if (at >= SLOTS) return -sys::EINVAL;
  for (i64 i = at >= 0 ? at : FIRST_FREE; i < SLOTS; i++) {
    Cap& c = slots_[i];
    if (c.obj) {
      if (at >= 0) return -sys::EBUSY;
      continue;
    }
    c = Cap{obj, rights, this, nullptr, nullptr, nullptr, nullptr};
    obj->get();
    ncaps_++;
    Descriptor::proc_update(this);
    return i;
  }
  return -sys::ENOCAP;
}

i64 CapGroup::derive(Cap* src, CapGroup* dest, u32 rights, i64 at) {
  if (dest->state != hsls_desc::PROC_RUNNING) return -sys::EDEAD;
  i64 slot = dest->install(src->obj, rights & src->rights, at);
  if (slot < 0) return slot;
  Cap* c = &dest->slots_[slot];
  c->parent = src;
  c->next = src->child;
  if (src->child) src->child->prev = c;
  src->child = c;
  return slot;
}

void CapGroup::remove(Cap* c) {
  // Children move up to c's parent (or become roots).
  while (Cap* k = c->child) {
    c->child = k->next;
    if (k->next) k->next->prev = nullptr;
    k->prev = nullptr;
    k->parent = c->parent;
    if (c->parent) {
      k->next = c->parent->child;
      if (k->next) k->next->prev = k;
      c->parent->child = k;
    } else {
      k->next = nullptr;
    }
  }
  if (c->prev) c->prev->next = c->next;
  else if (c->parent) c->parent->child = c->next;
  if (c->next) c->next->prev = c->prev;
  Object* obj = c->obj;
  CapGroup* owner = c->owner;
  *c = Cap{};
  owner->ncaps_--;
  Descriptor::proc_update(owner);
  obj->put();
}

void CapGroup::revoke(Cap* c) {
  // Remove leaves of the subtree until c has no children.
  while (c->child) {
    Cap* d = c->child;
    while (d->child) d = d->child;
    remove(d);
  }
}

void CapGroup::exit(u32 how, i32 code) {
  if (state != hsls_desc::PROC_RUNNING) return;
  state = how;
  exit_code = code;
  Descriptor::proc_update(this);
  get();  // keep the group alive until finish() ran
  if (!nthreads) {
    finish();
  } else {
    for (Thread* t = threads; t;) {
      Thread* next = t->g_next;
      t->kill();  // may call finish() when it ends the last thread
      t = next;
    }
  }
  put();
}

void CapGroup::finish() {
  // No thread of ours runs anywhere; make sure this CPU does not keep our page table loaded.
  if (vms) Cpu::current().load_cr3(PageTable::kernel().root());
  vms = nullptr;
  get();
  for (unsigned i = 0; i < SLOTS; i++)
    if (slots_[i].obj) remove(&slots_[i]);
  if (exit_notify) {
    Notification::signal_object(exit_notify);
    exit_notify->put();
    exit_notify = nullptr;
  }
  Descriptor::proc_update(this);
  Thread::on_process_exit(this);
  put();
}
