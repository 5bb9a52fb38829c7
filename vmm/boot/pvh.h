// The PVH boot information the VMM hands the guest: hvm_start_info, the
// E820-style memory map and the command line, written into the boot area.
// docs/boot-protocol.md is the contract.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/core/guest_memory.h"

namespace hsls::boot {

inline constexpr uint64_t kBootAreaStart = 0x5000;
inline constexpr uint64_t kBootAreaEnd = 0x7000;
inline constexpr uint64_t kStartInfoAddr = 0x5000;
inline constexpr uint64_t kMemmapAddr = 0x5040;
inline constexpr uint64_t kCmdlineAddr = 0x6000;
inline constexpr uint64_t kCmdlineMax = 4095;
inline constexpr uint64_t kLowMemEnd = 0x9fc00;
inline constexpr uint32_t kStartInfoMagic = 0x336ec578;

// Layouts fixed by the PVH ABI (xen/include/public/arch-x86/hvm/start_info.h).
struct HvmStartInfo {
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;
  uint32_t memmap_entries;
  uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 56);

struct HvmMemmapEntry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;  // 1 = RAM, 2 = reserved
  uint32_t reserved;
};
static_assert(sizeof(HvmMemmapEntry) == 24);

inline constexpr uint32_t kE820Ram = 1;
inline constexpr uint32_t kE820Reserved = 2;

// The guest command line: the user's, then the keys the VMM appends.
std::string guest_cmdline(const std::string& user, unsigned vcpus);

// The memory map the guest is told about.
std::vector<HvmMemmapEntry> memory_map(const std::vector<RamRange>& ram);

// Writes start info, memory map and command line into the boot area.
// Throws Error if the command line does not fit.
void write_boot_info(GuestMemory& mem, const std::string& cmdline);

}  // namespace hsls::boot
