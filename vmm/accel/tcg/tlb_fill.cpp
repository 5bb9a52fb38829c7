#include "vmm/accel/tcg/tlb_fill.h"

#include "vmm/debug/page_walk.h"

namespace hsls::accel::tcg {
namespace {

namespace pg = debug::paging;
constexpr uint64_t kCr4Smep = 1ull << 20;
constexpr uint64_t kEferNxe = 1ull << 11;

FillDecision page_fault(uint32_t error) {
  FillDecision d;
  d.kind = FillDecision::Kind::page_fault;
  d.pf_error = error;
  return d;
}

}  // namespace

FillDecision decide_fill(GuestMemory& mem, const CpuState& cpu, uint64_t linear, FillAccess access) {
  if (!debug::canonical(cpu, linear)) {
    FillDecision d;
    d.kind = FillDecision::Kind::gp_fault;
    return d;
  }
  const bool user = (cpu.cs.selector & 3) == 3;
  const bool write = access == FillAccess::write, fetch = access == FillAccess::fetch;
  const bool nxe = (cpu.efer & kEferNxe) && (cpu.cr4 & pg::kCr4Pae);
  uint32_t error = (write ? kPfErrWrite : 0) | (user ? kPfErrUser : 0) |
                   (fetch && (nxe || (cpu.cr4 & kCr4Smep)) ? kPfErrFetch : 0);

  auto w = debug::walk(mem, cpu, linear);
  if (!w) return page_fault(error);
  const bool paging = cpu.cr0 & pg::kCr0Pg;
  FillDecision d;
  d.phys_page = w->phys & ~(kPageSize - 1);
  if (!paging) {
    d.writable = d.executable = d.dirty = true;
    return d;
  }
  d.readable = !user || w->user;
  d.writable = user ? (w->user && w->writable) : (w->writable || !(cpu.cr0 & pg::kCr0Wp));
  d.executable = !(nxe && w->no_execute) && (user ? w->user : !((cpu.cr4 & kCr4Smep) && w->user));
  bool allowed = write ? d.writable : fetch ? d.executable : d.readable;
  if (!allowed) return page_fault(error | kPfErrPresent);
  d.tables_written_count = debug::set_accessed_dirty(mem, *w, write, d.tables_written, &d.tables_refused);
  d.dirty = write || (w->entry[w->levels - 1] & pg::kDirty);
  return d;
}

}  // namespace hsls::accel::tcg
