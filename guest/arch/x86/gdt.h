// Per-CPU GDT and TSS.
#pragma once
#include "kernel/types.h"

// 64-bit task state segment: kernel stack for ring transitions and IST stacks.
struct Tss {
  u32 reserved0 = 0;
  u64 rsp[3] = {};
  u64 reserved1 = 0;
  u64 ist[7] = {};
  u64 reserved2 = 0;
  u16 reserved3 = 0;
  u16 iomap_base = 0;
  u8 iomap[0x3f8 / 8 + 2] = {};  // I/O permission bitmap for ports 0-0x3ff (+ the 0xff terminator)

  static constexpr u16 IOMAP_OFFSET = 104;  // iomap_base that enables the bitmap
  static constexpr u16 NO_IOMAP = 0xffff;   // iomap_base past the limit: no port for ring 3
} __attribute__((packed));
static_assert(sizeof(Tss) == 104 + 129);

// GDT: null, kernel code/data (0x08/0x10), user code32 placeholder (0x18),
// user data (0x20), user code64 (0x28) -- the order SYSRET expects -- and the
// TSS (0x30, two slots).
class Gdt {
 public:
  // Fills the descriptors for `tss`, loads the GDT, reloads every segment
  // register (FS/GS with null) and loads TR, on the calling CPU.
  void load(const Tss* tss);

 private:
  alignas(16) u64 desc_[8] = {};
};
