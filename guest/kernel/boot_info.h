// What the VMM handed over at boot (PVH hvm_start_info): the memory map and
// the command line, copied into the kernel before low memory is reused.
#pragma once
#include "kernel/types.h"

struct MemRange {
  Paddr start;
  Paddr end;   // exclusive
  u32 type;    // E820: 1 = RAM
};

class BootInfo {
 public:
  static constexpr unsigned MAX_RANGES = 32;
  static constexpr unsigned CMDLINE_MAX = 4095;
  static constexpr u32 E820_RAM = 1;

  // Validates hvm_start_info at physical `start_info` and copies the memory
  // map and command line. Returns false (and keeps an empty map and command
  // line) if the structure is missing, has a bad magic, or lies outside the boot map.
  static bool parse(Paddr start_info);

  // The command line (empty if none).
  static const char* cmdline() { return cmdline_; }

  // Number of memory map entries copied.
  static unsigned range_count() { return count_; }

  // Memory map entry i.
  static const MemRange& range(unsigned i) { return ranges_[i]; }

  // Sum of all RAM (type 1) entries, in bytes.
  static u64 ram_bytes();

  // End (exclusive) of the highest RAM entry; 0 without a memory map.
  static Paddr ram_end();

  // True if [start, end) overlaps a RAM entry.
  static bool overlaps_ram(Paddr start, Paddr end);

 private:
  static char cmdline_[CMDLINE_MAX + 1];
  static MemRange ranges_[MAX_RANGES];
  static unsigned count_;
};
