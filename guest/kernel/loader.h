// Program loader: builds a process (CapGroup, VMSpace, PMOs, main thread)
// from one of the user programs embedded in the kernel image.
//
// The program's ELF file stays in the kernel image: its pages are mapped
// read-only at the ELF's base (USER_IMAGE_BASE) through a PHYS PMO, so
// loading copies nothing. Writable segments get zero ANON pages; the
// program's start-up code (user/crt0.S) copies its .data from the mapped
// file itself. The only bytes the kernel writes are the StartInfo block and
// argument strings at the top of the new stack.
#pragma once
#include "kernel/types.h"

class CapGroup;
struct Cap;
struct Object;

// A capability handed to a new process (slot SLOT_PASSED + k): derived from
// `from` (same rights & `rights`) if set, else a new root capability to `obj`.
struct PassCap {
  Cap* from = nullptr;
  Object* obj = nullptr;
  u32 rights = 0;
};

struct ProgramImage {
  const char* name;
  const u8* data;  // page aligned, in the kernel image
  u64 size;
};

class Loader {
 public:
  // The embedded program called `name`, or nullptr.
  static const ProgramImage* find(const char* name, unsigned len);

  // Starts program `name` with `args` (space-separated; argv[0] is the name)
  // as a child of `parent` (nullptr: the root, init). The parent gets the
  // original capability to the new CapGroup (returned in *parent_slot).
  // `ctl` (if any) is derived into the child's SLOT_CONTROL with read rights;
  // pass[0..npass) go to slots SLOT_PASSED + k before anything else is
  // installed (StartInfo::passed = npass). Returns the CapGroup, or nullptr with *err set.
  static CapGroup* spawn(const char* name, unsigned name_len, const char* args, unsigned args_len, CapGroup* parent,
                         Cap* ctl, int cpu, i64* parent_slot, i64* err, const PassCap* pass = nullptr,
                         unsigned npass = 0);
};
