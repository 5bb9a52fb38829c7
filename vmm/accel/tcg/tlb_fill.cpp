#include "vmm/accel/tcg/tlb_fill.h"

#include "vmm/debug/page_walk.h"

namespace hsls::accel::tcg {
namespace {

namespace pg = debug::paging;
constexpr uint64_t kCr4Smep = 1ull << 20;
constexpr uint64_t kEferNxe = 1ull << 11;

bool canonical(const CpuState& cpu, uint64_t linear) {
  if (!(cpu.efer & pg::kEferLma)) return true;
  unsigned bits = (cpu.cr4 & pg::kCr4La57) ? 57 : 48;
  return uint64_t(int64_t(linear << (64 - bits)) >> (64 - bits)) == linear;
}

FillDecision page_fault(uint32_t error) {
  FillDecision d;
  d.kind = FillDecision::Kind::page_fault;
  d.pf_error = error;
  return d;
}

// Sets the accessed bits of the walk's entries (and the leaf's dirty bit
// for a store), as the CPU's walker would; notes the tables written.
void set_accessed_dirty(GuestMemory& mem, const debug::PageWalk& w, bool write, FillDecision& d) {
  for (unsigned i = 0; i < w.levels; ++i) {
    uint64_t want = w.entry[i] | pg::kAccessed | (write && i + 1 == w.levels ? pg::kDirty : 0);
    if (want == w.entry[i]) continue;
    mem.write(w.entry_gpa[i], &want, w.entry_size);
    uint64_t page = w.entry_gpa[i] & ~(kPageSize - 1);
    bool seen = false;
    for (unsigned k = 0; k < d.tables_written_count; ++k) seen = seen || d.tables_written[k] == page;
    if (!seen) d.tables_written[d.tables_written_count++] = page;
  }
}

}  // namespace

FillDecision decide_fill(GuestMemory& mem, const CpuState& cpu, uint64_t linear, FillAccess access) {
  if (!canonical(cpu, linear)) {
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
  set_accessed_dirty(mem, *w, write, d);
  d.dirty = write || (w->entry[w->levels - 1] & pg::kDirty);
  return d;
}

}  // namespace hsls::accel::tcg
