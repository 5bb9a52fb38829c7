// The engine's hooks of a software-CPU vCPU: blocks, interrupts and
// exceptions, TLB fills (the dirty log and the write guard), port and MMIO
// accesses, CPUID. Each runs on the vCPU's thread, inside uc_emu_start.
#include "vmm/accel/tcg/tcg_vcpu.h"

#include <cstring>

#include <fmt/format.h>

#include "vmm/accel/tcg/cpuid.h"
#include "vmm/accel/tcg/delivery.h"
#include "vmm/accel/tcg/store_dirty_log.h"
#include "vmm/accel/tcg/tcg_vm.h"

namespace hsls::accel::tcg {
namespace {

constexpr uint64_t kLapicBase = 0xfee00000, kIoapicBase = 0xfec00000;

}  // namespace

// A block starts: count it (deterministic machine) and stop if something
// is due or asked for. The block after an interrupt shadow always runs
// (its skip is consumed whether a stop is pending or not, so that where a
// vCPU stops never depends on when another thread asked).
void TcgVcpu::on_block() {
  DetSchedule* det = vm_.det();
  bool due = det && det->due();
  if (skip_blocks_ || (!due && !vm_.stop_requested())) {
    if (skip_blocks_) --skip_blocks_;
    if (det) det->count_block();
    return;
  }
  // Stopped at its hook, the block does not run (Unicorn checks for a stop
  // right after the hook): it is not counted, so the count is of blocks run
  // and an event at block N comes after N blocks however the run got there
  // (a stop here, or a hlt ending block N).
  stop_ = Stop::yield;
  uc_emu_stop(vm_.engine());
}

void TcgVcpu::on_interrupt(uint32_t intno) {
  const auto& L = uc_layout();
  CpuBytes c = live();
  Event ev;
  ev.vector = uint8_t(intno);
  ev.kind = c.get<int32_t>(L.exception_is_int) ? Event::Kind::software : Event::Kind::exception;
  ev.error = uint32_t(c.get<int32_t>(L.error_code));
  ev.has_error = ev.kind == Event::Kind::exception && has_error_code(ev.vector);
  ev.cr2 = c.get<uint64_t>(L.cr + 16);
  if (ev.kind == Event::Kind::software && intno == 3) ev.insn_length = 1;
  if (!deliver(ev)) uc_emu_stop(vm_.engine());
}

// The engine's TLB missed `vaddr`'s page: translate it through the
// guest's tables (tlb_fill.h). A store marks the page dirty and gets write
// rights; a load or fetch gets them only for a page already marked in this
// epoch (and dirty in the guest's tables), so that a clean page's first
// store misses again and is logged (and, under copy-on-write in the
// store path, its page is backed up first). A fault is refused: the run ends with
// UC_ERR_EXCEPTION at the faulting instruction and run_engine delivers it.
bool TcgVcpu::on_tlb_fill(uint64_t vaddr, uc_mem_type type, uc_tlb_entry& entry) {
  uc_engine* uc = vm_.engine();
  CpuState& s = fill_cpu_;
  s.cr0 = reg_read(uc, UC_X86_REG_CR0);
  s.cr3 = reg_read(uc, UC_X86_REG_CR3);
  s.cr4 = reg_read(uc, UC_X86_REG_CR4);
  s.efer = msr_read(uc, 0xc0000080);  // EFER
  s.cs.selector = uint16_t(reg_read(uc, UC_X86_REG_CS));
  FillAccess access = type == UC_MEM_WRITE ? FillAccess::write : type == UC_MEM_FETCH ? FillAccess::fetch : FillAccess::read;
  FillDecision d = decide_fill(vm_.memory(), s, vaddr, access);
  StoreDirtyLog& log = *vm_.store_log();
  for (unsigned k = 0; k < d.tables_written_count; ++k) log.mark_landed(d.tables_written[k]);
  if (d.tables_refused) {
    write_withheld_ = true;
    return false;
  }
  if (d.kind != FillDecision::Kind::map) {
    refused_ = d;
    return false;
  }
  bool ram = vm_.memory().contains(d.phys_page, 1);
  if (ram && access == FillAccess::write) {
    // Copy-on-write (write_guard.h): the page is backed up before its first store lands.
    if (!vm_.memory().before_write(d.phys_page, 1)) {
      write_withheld_ = true;
      return false;
    }
    log.mark_landed(d.phys_page);
  }
  // A load's fill gives write rights only to a page stored to this epoch,
  // and never to one the copy-on-write guard still has to back up.
  bool writable = d.writable && (!ram || access == FillAccess::write ||
                                 (d.dirty && log.marked(d.phys_page) && !vm_.memory().guarded(d.phys_page)));
  entry.paddr = d.phys_page;
  entry.perms = uc_prot((d.readable ? UC_PROT_READ : 0) | (writable ? UC_PROT_WRITE : 0) | (d.executable ? UC_PROT_EXEC : 0));
  return true;
}

bool TcgVcpu::deliver_refused_fill() {
  Event ev;
  ev.kind = Event::Kind::exception;
  ev.has_error = true;
  if (refused_->kind == FillDecision::Kind::gp_fault) {
    ev.vector = 13;
  } else {
    ev.vector = 14;
    ev.error = refused_->pf_error;
    ev.cr2 = uc_refused_address(vm_.engine());
  }
  refused_.reset();
  return deliver(ev);
}

void TcgVcpu::on_invalid_insn() {
  stop_ = Stop::invalid_insn;
  uc_emu_stop(vm_.engine());
}

bool TcgVcpu::on_unmapped(uc_mem_type type, uint64_t addr, int size) {
  bool write = type == UC_MEM_WRITE_UNMAPPED;
  fail_stop(type == UC_MEM_FETCH_UNMAPPED ? fmt::format("instruction fetch from {:#x}, which is not guest RAM", addr)
                                          : unowned_access(false, addr, unsigned(size), write));
  return false;
}

uint32_t TcgVcpu::on_in(uint32_t port, int size) {
  uint8_t data[4] = {};
  if (!vm_.platform_pio(uint16_t(port), data, unsigned(size), false) &&
      !io_.pio(uint16_t(port), data, unsigned(size), false)) {
    fail_stop(unowned_access(true, port, unsigned(size), false));
    return 0xffffffff;
  }
  uint32_t v = 0;
  std::memcpy(&v, data, unsigned(size));
  return v;
}

void TcgVcpu::on_out(uint32_t port, int size, uint32_t value) {
  uint8_t data[4];
  std::memcpy(data, &value, 4);
  if (!vm_.platform_pio(uint16_t(port), data, unsigned(size), true) &&
      !io_.pio(uint16_t(port), data, unsigned(size), true))
    fail_stop(unowned_access(true, port, unsigned(size), true));
}

uint64_t TcgVcpu::on_mmio_read(uint64_t addr, unsigned size) {
  if (addr >= kLapicBase && addr < kLapicBase + 0x1000) {
    std::lock_guard lock(vm_.platform_mutex());
    return lapic_->read(uint32_t(addr - kLapicBase) & ~3u);
  }
  if (addr >= kIoapicBase && addr < kIoapicBase + 0x1000) {
    std::lock_guard lock(vm_.platform_mutex());
    return vm_.ioapic().read(uint32_t(addr - kIoapicBase));
  }
  uint8_t data[8] = {};
  if (!io_.mmio(addr, data, size, false)) {
    fail_stop(unowned_access(false, addr, size, false));
    return 0;
  }
  uint64_t v = 0;
  std::memcpy(&v, data, size);
  return v;
}

void TcgVcpu::on_mmio_write(uint64_t addr, unsigned size, uint64_t value) {
  if (addr >= kLapicBase && addr < kLapicBase + 0x1000) {
    std::lock_guard lock(vm_.platform_mutex());
    lapic_->write(uint32_t(addr - kLapicBase) & ~3u, uint32_t(value));
    vm_.timer_changed(lapic_->timer_deadline());
    return;
  }
  if (addr >= kIoapicBase && addr < kIoapicBase + 0x1000) {
    std::lock_guard lock(vm_.platform_mutex());
    vm_.ioapic().write(uint32_t(addr - kIoapicBase), uint32_t(value));
    return;
  }
  uint8_t data[8];
  std::memcpy(data, &value, 8);
  if (!io_.mmio(addr, data, size, true)) fail_stop(unowned_access(false, addr, size, true));
}

void TcgVcpu::on_cpuid() {
  uc_engine* uc = vm_.engine();
  auto r = cpuid(uint32_t(reg_read(uc, UC_X86_REG_RAX)), uint32_t(reg_read(uc, UC_X86_REG_RCX)), index_, vm_.vcpu_count(),
                 vm_.det() != nullptr);
  reg_write(uc, UC_X86_REG_RAX, r.eax);
  reg_write(uc, UC_X86_REG_RBX, r.ebx);
  reg_write(uc, UC_X86_REG_RCX, r.ecx);
  reg_write(uc, UC_X86_REG_RDX, r.edx);
}

}  // namespace hsls::accel::tcg
