// The software CPU's TLB fill, done by the VMM (Unicorn's UC_TLB_VIRTUAL
// mode): for each TLB miss the engine asks what a linear page maps to and
// with which rights. Doing the guest page walk here, rather than in QEMU's
// walker, is what lets the dirty log cost only a page's first store per
// epoch: a clean page is entered without write permission, so its first
// store misses again, and that miss records the page (docs/accelerators.md).
//
// This file holds the decision alone (pure: guest memory and control
// registers in, a translation or a page fault out), so unit tests can
// check it against hand-built page tables. The rules are the SDM's (4.6):
// present bits, R/W with CR0.WP for supervisor writes, U/S for CPL 3, XD
// with EFER.NXE, SMEP; accessed bits set on every walk and the dirty bit on
// a write, as the CPU would. Not modelled: SMAP, protection keys, reserved
// bits (the guest sets none), and implicit supervisor accesses made at CPL 3
// (the engine does not say which access is implicit).
#pragma once
#include <cstdint>

#include "vmm/accel/cpu_state.h"
#include "vmm/core/guest_memory.h"

namespace hsls::accel::tcg {

enum class FillAccess : uint8_t { read, write, fetch };

struct FillDecision {
  enum class Kind : uint8_t {
    map,         // enter phys_page with the rights below
    page_fault,  // raise #PF with pf_error (CR2 = the faulting address)
    gp_fault,    // raise #GP(0): a non-canonical address
  } kind = Kind::map;
  uint64_t phys_page = 0;
  bool readable = true;
  bool writable = false;    // the guest's tables allow a store at this CPL
  bool executable = false;  // ... and an instruction fetch
  bool dirty = false;       // the leaf's dirty bit is set (a store needs no walk to set it)
  uint32_t pf_error = 0;
  // Paging-structure pages the walk wrote (accessed/dirty bits), for the dirty log.
  uint64_t tables_written[5] = {};
  unsigned tables_written_count = 0;
  bool tables_refused = false;  // guest memory refused an accessed/dirty-bit write (the power failed)
};

// #PF error code bits.
inline constexpr uint32_t kPfErrPresent = 1, kPfErrWrite = 2, kPfErrUser = 4, kPfErrFetch = 16;

// Translates `linear` for an `access` at the privilege level of `cpu.cs`
// (its selector's RPL), with `cpu`'s paging mode (CR0, CR3, CR4, EFER).
// Sets accessed bits (and the leaf's dirty bit for a write) when it maps.
FillDecision decide_fill(GuestMemory& mem, const CpuState& cpu, uint64_t linear, FillAccess access);

}  // namespace hsls::accel::tcg
