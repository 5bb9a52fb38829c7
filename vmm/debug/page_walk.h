// The guest page walk: linear -> guest-physical through the guest's own page
// tables, in the paging mode its control registers select (none, 32-bit,
// PAE, 4-level, 5-level). The one walk of the VMM: debug::translate (monitor,
// crash reports), the software CPU's interrupt delivery
// (vmm/accel/tcg/delivery.cpp) and its TLB fill (tlb_fill.cpp) use it; the
// last two add permission checks and set the accessed/dirty bits with
// set_accessed_dirty() below.
//
// Header-only so that every user links it without a build change.
// It reads guest memory only; it checks presence, not permissions or
// reserved bits, and reports the permissions it saw.
#pragma once
#include <cstdint>
#include <optional>

#include "vmm/accel/cpu_state.h"
#include "vmm/core/guest_memory.h"

namespace hsls::debug {

namespace paging {
inline constexpr uint64_t kCr0Wp = 1ull << 16;
inline constexpr uint64_t kCr0Pg = 1ull << 31;
inline constexpr uint64_t kCr4Pse = 1ull << 4;
inline constexpr uint64_t kCr4Pae = 1ull << 5;
inline constexpr uint64_t kCr4La57 = 1ull << 12;
inline constexpr uint64_t kEferLma = 1ull << 10;
// Paging-entry bits.
inline constexpr uint64_t kPresent = 1, kWritable = 1ull << 1, kUser = 1ull << 2;
inline constexpr uint64_t kAccessed = 1ull << 5, kDirty = 1ull << 6, kLarge = 1ull << 7;
inline constexpr uint64_t kNoExecute = 1ull << 63;
inline constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;
}  // namespace paging

// What a successful walk found.
struct PageWalk {
  uint64_t phys = 0;        // guest-physical address of the linear address
  uint64_t page_size = 0;   // 4 KiB, 2 MiB, 4 MiB or 1 GiB; 0 with paging off
  bool writable = true;     // R/W set at every level
  bool user = true;         // U/S set at every level
  bool no_execute = false;  // XD set at some level (long mode / PAE)
  unsigned levels = 0;      // entries used, 0 with paging off
  unsigned entry_size = 8;  // bytes per entry: 8, or 4 for 32-bit paging
  uint64_t entry_gpa[5] = {};  // guest-physical address of each entry used, top level first
  uint64_t entry[5] = {};      // their values
};

// Walks `linear` with the paging mode of `cpu` (CR0.PG, CR4.PAE/PSE/LA57,
// EFER.LMA, CR3); nullopt if some entry is not present or a table lies
// outside RAM. With paging off the address is truncated to 32 bits.
inline std::optional<PageWalk> walk(const GuestMemory& mem, const accel::CpuState& cpu, uint64_t linear) {
  using namespace paging;
  PageWalk w;
  if (!(cpu.cr0 & kCr0Pg)) {
    w.phys = linear & 0xffffffffull;
    return w;
  }
  // Records one entry; false if it is outside RAM or not present.
  auto step = [&](uint64_t gpa, uint64_t& entry, unsigned size) {
    entry = 0;
    if (!mem.read(gpa, &entry, size) || !(entry & kPresent)) return false;
    w.entry_gpa[w.levels] = gpa;
    w.entry[w.levels] = entry;
    ++w.levels;
    return true;
  };
  auto leaf = [&](uint64_t entry, uint64_t addr_mask, uint64_t page_size) {
    w.page_size = page_size;
    w.phys = (entry & addr_mask & ~(page_size - 1)) | (linear & (page_size - 1));
    return w;
  };
  auto permissions = [&](uint64_t entry) {
    w.writable = w.writable && (entry & kWritable);
    w.user = w.user && (entry & kUser);
    w.no_execute = w.no_execute || (entry & kNoExecute);
  };

  if (cpu.efer & kEferLma) {
    int levels = (cpu.cr4 & kCr4La57) ? 5 : 4;
    uint64_t table = cpu.cr3 & kAddrMask;
    for (int level = levels; level >= 1; --level) {
      unsigned shift = 12 + 9 * unsigned(level - 1);
      uint64_t entry;
      if (!step(table + ((linear >> shift) & 511) * 8, entry, 8)) return std::nullopt;
      permissions(entry);
      if (level == 1 || (level <= 3 && (entry & kLarge))) return leaf(entry, kAddrMask, 1ull << shift);
      table = entry & kAddrMask;
    }
    return std::nullopt;  // not reached
  }

  linear &= 0xffffffffull;
  if (cpu.cr4 & kCr4Pae) {
    // PDPTEs carry no R/W, U/S or XD bits.
    uint64_t pdpte, pde, pte;
    if (!step((cpu.cr3 & ~0x1full) + ((linear >> 30) & 3) * 8, pdpte, 8)) return std::nullopt;
    if (!step((pdpte & kAddrMask) + ((linear >> 21) & 511) * 8, pde, 8)) return std::nullopt;
    permissions(pde);
    if (pde & kLarge) return leaf(pde, kAddrMask, 2ull << 20);
    if (!step((pde & kAddrMask) + ((linear >> 12) & 511) * 8, pte, 8)) return std::nullopt;
    permissions(pte);
    return leaf(pte, kAddrMask, 4096);
  }

  // 32-bit paging (4-byte entries, no XD; PSE-36 high address bits ignored).
  w.entry_size = 4;
  uint64_t pde, pte;
  if (!step((cpu.cr3 & 0xfffff000ull) + ((linear >> 22) & 1023) * 4, pde, 4)) return std::nullopt;
  permissions(pde);
  if ((pde & kLarge) && (cpu.cr4 & kCr4Pse)) return leaf(pde, 0xffc00000ull, 4ull << 20);
  if (!step((pde & 0xfffff000ull) + ((linear >> 12) & 1023) * 4, pte, 4)) return std::nullopt;
  permissions(pte);
  return leaf(pte, 0xfffff000ull, 4096);
}

// Whether `linear` is canonical (always, outside long mode): bits above
// the top translated one (47, or 56 with LA57) copy it.
inline bool canonical(const accel::CpuState& cpu, uint64_t linear) {
  if (!(cpu.efer & paging::kEferLma)) return true;
  unsigned bits = (cpu.cr4 & paging::kCr4La57) ? 57 : 48;
  return uint64_t(int64_t(linear << (64 - bits)) >> (64 - bits)) == linear;
}

// Sets the accessed bit of every entry of `w` and, for a write, the leaf's
// dirty bit, as the CPU's walker does (the entries were just read from RAM,
// so the writes land unless a copy-on-write guard withholds them: the power
// failed; then `*refused` is set). Puts each table page it wrote, once, in
// `pages` (room for 5) if given; returns how many.
inline unsigned set_accessed_dirty(GuestMemory& mem, const PageWalk& w, bool write, uint64_t* pages = nullptr,
                                   bool* refused = nullptr) {
  unsigned count = 0;
  for (unsigned i = 0; i < w.levels; ++i) {
    uint64_t want = w.entry[i] | paging::kAccessed | (write && i + 1 == w.levels ? paging::kDirty : 0);
    if (want == w.entry[i]) continue;
    if (!mem.write(w.entry_gpa[i], &want, w.entry_size)) {
      if (refused) *refused = true;
      continue;  // not written: not listed
    }
    uint64_t page = w.entry_gpa[i] & ~(kPageSize - 1);
    bool seen = false;
    for (unsigned k = 0; k < count && pages; ++k) seen = seen || pages[k] == page;
    if (!seen) {
      if (pages) pages[count] = page;
      ++count;
    }
  }
  return count;
}

}  // namespace hsls::debug
