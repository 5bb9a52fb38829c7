#include "kernel/boot_info.h"

#include "arch/x86/memory.h"

char BootInfo::cmdline_[CMDLINE_MAX + 1];
MemRange BootInfo::ranges_[MAX_RANGES];
unsigned BootInfo::count_;

namespace {

// Layouts fixed by the PVH ABI (xen/include/public/arch-x86/hvm/start_info.h).
struct HvmStartInfo {
  u32 magic;
  u32 version;
  u32 flags;
  u32 nr_modules;
  u64 modlist_paddr;
  u64 cmdline_paddr;
  u64 rsdp_paddr;
  u64 memmap_paddr;
  u32 memmap_entries;
  u32 reserved;
};

struct HvmMemmapEntry {
  u64 addr;
  u64 size;
  u32 type;
  u32 reserved;
};

constexpr u32 START_INFO_MAGIC = 0x336ec578;

// True if physical [p, p + len) lies in the boot map (so phys_to_virt works).
bool in_boot_map(Paddr p, u64 len) { return p >= PAGE_SIZE && p < BOOT_MAP_END && len <= BOOT_MAP_END - p; }

}  // namespace

bool BootInfo::parse(Paddr start_info) {
  if (!in_boot_map(start_info, sizeof(HvmStartInfo))) return false;
  const auto* si = phys_to_virt<const HvmStartInfo>(start_info);
  if (si->magic != START_INFO_MAGIC) return false;

  if (si->cmdline_paddr && in_boot_map(si->cmdline_paddr, 1)) {
    const char* src = phys_to_virt<const char>(si->cmdline_paddr);
    unsigned n = 0;
    while (n < CMDLINE_MAX && si->cmdline_paddr + n < BOOT_MAP_END && src[n]) {
      cmdline_[n] = src[n];
      n++;
    }
    cmdline_[n] = '\0';
  }

  unsigned entries = si->version >= 1 ? si->memmap_entries : 0;
  if (entries && in_boot_map(si->memmap_paddr, u64(entries) * sizeof(HvmMemmapEntry))) {
    const auto* map = phys_to_virt<const HvmMemmapEntry>(si->memmap_paddr);
    for (unsigned i = 0; i < entries && count_ < MAX_RANGES; i++) {
      if (!map[i].size) continue;
      ranges_[count_++] = MemRange{map[i].addr, map[i].addr + map[i].size, map[i].type};
    }
  }
  return true;
}

u64 BootInfo::ram_bytes() {
  u64 sum = 0;
  for (unsigned i = 0; i < count_; i++)
    if (ranges_[i].type == E820_RAM) sum += ranges_[i].end - ranges_[i].start;
  return sum;
}

Paddr BootInfo::ram_end() {
  Paddr end = 0;
  for (unsigned i = 0; i < count_; i++)
    if (ranges_[i].type == E820_RAM && ranges_[i].end > end) end = ranges_[i].end;
  return end;
}

bool BootInfo::overlaps_ram(Paddr start, Paddr end) {
  for (unsigned i = 0; i < count_; i++)
    if (ranges_[i].type == E820_RAM && start < ranges_[i].end && ranges_[i].start < end) return true;
  return false;
}
