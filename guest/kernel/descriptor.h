// Publishes the object-tree descriptor (abi/descriptor.h) at guest-physical
// DESC_PHYS for the VMM's `info guest`. Every update is a few stores under
// the seqlock (BKL held), made when objects are created or destroyed and
// when a process's figures change.
#pragma once
#include "kernel/object.h"

class CapGroup;

class Descriptor {
 public:
  // Fills the header (BSP, before any object exists).
  static void init(u64 total_pages, u64 tsc_hz);

  static void created(ObjType t);
  static void destroyed(ObjType t);

  // Process summaries.
  static void proc_add(CapGroup* g);
  static void proc_update(CapGroup* g);
  static void proc_remove(CapGroup* g);

  // The root CapGroup.
  static void set_root(CapGroup* g);

  // Free page count changed.
  static void pages_changed();

  // A page the kernel had to zero itself.
  static void kernel_zeroed();

  // Per-CPU fields (outside the seqlock).
  static void cpu_current(unsigned cpu, u32 tid);
  static void cpu_tick(unsigned cpu, u64 ticks);
  static void cpu_online(unsigned cpu, unsigned ncpus);

  static hsls_desc::Descriptor* get();
};
