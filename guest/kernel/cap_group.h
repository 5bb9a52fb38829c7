// CapGroup: a process -- its capability table, its threads and its exit state.
//
// A capability is a slot in a CapGroup's table naming an object with rights.
// Capabilities form a derivation tree (seL4's MDB): copying a capability
// (grant, possibly into another CapGroup, with equal or fewer rights) makes
// the copy a child of the original. Revoke deletes every capability derived
// from one; delete removes one capability (its children move up to its
// parent). Each capability holds one reference on its object.
//
// The root CapGroup (init, pid 1) reaches everything: it holds capabilities
// to the CapGroups it spawned, which hold their threads, VMSpace, PMOs, ...
#pragma once
#include "abi/syscall.h"
#include "kernel/object.h"

class CapGroup;
class Thread;
class VMSpace;

struct Cap {
  Object* obj = nullptr;   // nullptr: free slot
  u32 rights = 0;
  CapGroup* owner = nullptr;
  Cap* parent = nullptr;
  Cap* child = nullptr;    // first child
  Cap* next = nullptr;     // siblings
  Cap* prev = nullptr;
};

class CapGroup : public Object {
 public:
  static constexpr unsigned SLOTS = 48;
  static constexpr unsigned NAME_LEN = 16;

  CapGroup() : Object(ObjType::CapGroup) {}

  // Makes an empty CapGroup named `name` with a new pid (no capability to it
  // yet); `process` = false: a bare capability table (pid 0, not listed in the descriptor).
  static CapGroup* create(const char* name, CapGroup* parent, bool process = true);

  // The root CapGroup (init).
  static CapGroup* root;

  // Called when the last reference goes.
  static void destroy(CapGroup* g);

  // --- capability table ---

  // Slots below this are the well-known ones (sys::Slot); install() starts here.
  static constexpr i64 FIRST_FREE = 5;

  // Installs a new root capability (no parent) to `obj` in slot `at`, or the
  // first free slot from FIRST_FREE if `at` < 0; returns the slot or -ENOCAP/-EBUSY.
  i64 install(Object* obj, u32 rights, i64 at = -1);

  // The capability in `slot` if it names an object of `type` with all of `rights`; else nullptr.
  Cap* lookup(i64 slot, ObjType type, u32 rights);

  // The capability in `slot` (any type), or nullptr.
  Cap* at(i64 slot);

  // Slot index of a capability of this table.
  i64 slot_of(const Cap* c) const { return c - slots_; }

  // Copies `src` into `dest` (slot `at`, or the first free one) with rights
  // `rights & src->rights`, as a child of `src` in the derivation tree.
  // Returns the new slot in dest, or a negative error. (The system call
  // layer requires R_GRANT on src.)
  static i64 derive(Cap* src, CapGroup* dest, u32 rights, i64 at = -1);

  // Deletes one capability: its children are re-parented to its parent.
  static void remove(Cap* c);

  // Deletes every capability derived from `c` (not `c` itself).
  static void revoke(Cap* c);

  // Number of capabilities in the table.
  unsigned cap_count() const { return ncaps_; }

  // --- process ---
  u32 pid = 0;
  u32 parent_pid = 0;
  char name[NAME_LEN] = {};
  u32 state = hsls_desc::PROC_RUNNING;
  i32 exit_code = 0;
  unsigned nthreads = 0;          // live threads
  Thread* threads = nullptr;      // live threads (Thread::g_next list)
  VMSpace* vms = nullptr;         // its address space (not a reference; the table holds one)
  Object* exit_notify = nullptr;  // Notification signalled at exit (a reference)
  int desc_slot = -1;             // index in the descriptor's process array

  // Ends the process: kills its threads (those running elsewhere finish on
  // their CPU) and, once none is left, clears the table and signals exit_notify.
  void exit(u32 how, i32 code);

  // Called when the last thread is gone: tears the process down.
  void finish();

 private:
  Cap slots_[SLOTS];
  unsigned ncaps_ = 0;
  static u32 next_pid_;
};
