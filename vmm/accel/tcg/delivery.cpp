// Interrupt and exception delivery in IA-32e mode (see delivery.h for what
// is modelled). One attempt (attempt()) either commits the whole delivery or
// returns the fault it ran into without touching the CPU state; deliver()
// turns that fault into the next event to deliver (serially, #DF, or a
// triple fault).
#include "vmm/accel/tcg/delivery.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "vmm/debug/page_walk.h"

namespace hsls::accel::tcg {
namespace {

namespace pg = debug::paging;

constexpr uint64_t kTF = 1ull << 8, kIF = 1ull << 9, kNT = 1ull << 14, kRF = 1ull << 16, kVM = 1ull << 17;
constexpr uint8_t kDE = 0, kDF = 8, kTS = 10, kNP = 11, kSS = 12, kGP = 13, kPF = 14, kVE = 20, kCP = 21;
constexpr uint8_t kInterruptGate = 0xe, kTrapGate = 0xf;
constexpr uint32_t kPfPresent = 1, kPfWrite = 2;

// Why an attempt did not deliver: the exception the CPU raises instead, or
// something that cannot be emulated (stop).
struct Failure {
  bool stop = false;
  uint8_t vector = 0;
  uint32_t error = 0;
  uint64_t cr2 = 0;  // #PF: the linear address
  std::string why;
};
using Outcome = std::optional<Failure>;  // nullopt: done

Failure fault(uint8_t vector, uint32_t error, std::string why, uint64_t cr2 = 0) {
  return Failure{false, vector, error, cr2, std::move(why)};
}
Failure stop(std::string why) { return Failure{true, 0, 0, 0, std::move(why)}; }

const char* mnemonic(uint8_t v) {
  static const char* const names[32] = {
      "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS", "#NP", "#SS", "#GP", "#PF", nullptr,
      "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, "#HV", "#VC", "#SX",
      nullptr};
  return v < 32 ? names[v] : nullptr;
}

std::string exception_name(uint8_t vector, uint32_t error) {
  const char* m = mnemonic(vector);
  std::string out = m ? m : fmt::format("exception {:#x}", vector);
  if (has_error_code(vector)) out += fmt::format("({:#x})", error);
  return out;
}

std::string event_name(const Event& ev) {
  switch (ev.kind) {
    case Event::Kind::external: return fmt::format("external interrupt {:#x}", ev.vector);
    case Event::Kind::software: return fmt::format("int {:#x}", ev.vector);
    case Event::Kind::exception: break;
  }
  return exception_name(ev.vector, ev.error);
}

// SDM table 6-4, kept to what the double-fault rule needs.
enum class Class { benign, contributory, page_fault, double_fault };

Class classify(Event::Kind kind, uint8_t vector) {
  if (kind != Event::Kind::exception) return Class::benign;
  switch (vector) {
    case kDE: case kTS: case kNP: case kSS: case kGP: case kCP: return Class::contributory;
    case kPF: case kVE: return Class::page_fault;
    case kDF: return Class::double_fault;
    default: return Class::benign;
  }
}

// SDM table 6-5: does `second`, raised while delivering `first`, become #DF?
bool makes_double_fault(Class first, Class second) {
  if (first == Class::contributory) return second == Class::contributory;
  if (first == Class::page_fault) return second == Class::contributory || second == Class::page_fault;
  return false;
}

// Fault-class exceptions push RF = 1 (SDM 17.3.1.1). #DB is left out: it is
// a fault only for instruction breakpoints, and those push RF as it is.
bool fault_class(const Event& ev) {
  if (ev.kind != Event::Kind::exception) return false;
  switch (ev.vector) {
    case 0: case 5: case 6: case 7: case 10: case 11: case 12: case 13: case 14:
    case 16: case 17: case 19: case 20: case 21: return true;
    default: return false;
  }
}

using debug::canonical;

// Supervisor accesses to linear addresses for one attempt.
struct Linear {
  const CpuState& cpu;
  GuestMemory& mem;
  std::vector<uint64_t>& written;  // guest-physical pages written (page-table bits, the frame)
  bool& refused;                   // a write was refused (the power failed)

  // Sets the walk's accessed (and dirty) bits and notes the table pages written.
  void touch(const debug::PageWalk& w, bool write) const {
    uint64_t pages[5];
    unsigned n = debug::set_accessed_dirty(mem, w, write, pages, &refused);
    written.insert(written.end(), pages, pages + n);
  }

  // Translates [la, la+len) (within one page) for a supervisor access.
  // `what` names the structure for the messages.
  Outcome translate(uint64_t la, uint64_t len, bool write, const char* what, uint64_t& phys,
                    debug::PageWalk& walk_out) const {
    auto w = debug::walk(mem, cpu, la);
    if (!w)
      return fault(kPF, write ? kPfWrite : 0, fmt::format("{} at {:#x} not mapped", what, la), la);
    if (write && (cpu.cr0 & pg::kCr0Wp) && !w->writable)
      return fault(kPF, kPfPresent | kPfWrite, fmt::format("{} at {:#x} read-only", what, la), la);
    if (!mem.contains(w->phys, len))
      return stop(fmt::format("{} at {:#x} is at guest-physical {:#x}, outside RAM", what, la, w->phys));
    phys = w->phys;
    walk_out = *w;
    return std::nullopt;
  }

  // Reads `len` bytes at `la` (a system structure): page by page, accessed bits set.
  Outcome read(uint64_t la, void* out, uint64_t len, uint32_t ext, const char* what) const {
    if (!canonical(cpu, la) || !canonical(cpu, la + len - 1))
      return fault(kGP, ext, fmt::format("{} at non-canonical {:#x}", what, la));
    auto* dst = static_cast<uint8_t*>(out);
    while (len > 0) {
      uint64_t chunk = std::min<uint64_t>(len, kPageSize - (la & (kPageSize - 1)));
      uint64_t phys;
      debug::PageWalk w;
      if (auto f = translate(la, chunk, false, what, phys, w)) return f;
      touch(w, false);
      mem.read(phys, dst, chunk);
      la += chunk;
      dst += chunk;
      len -= chunk;
    }
    return std::nullopt;
  }
};

uint64_t bytes_le(const uint8_t* p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

// One delivery of `ev`; commits to `cpu` and the guest stack only if it succeeds.
Outcome attempt(CpuState& cpu, GuestMemory& mem, const Event& ev, std::vector<uint64_t>& written, bool& refused) {
  const Linear lin{cpu, mem, written, refused};
  const uint32_t ext = ev.kind == Event::Kind::software ? 0 : 1;
  const uint32_t idt_error = uint32_t(ev.vector) * 8 + 2 + ext;
  const unsigned cpl = cpu.cs.selector & 3;

  // The gate.
  if (uint32_t(ev.vector) * 16 + 15 > cpu.idt.limit)
    return fault(kGP, idt_error, fmt::format("IDT entry {:#x} beyond the IDT limit {:#x}", ev.vector, cpu.idt.limit));
  uint8_t gate[16];
  if (auto f = lin.read(cpu.idt.base + uint64_t(ev.vector) * 16, gate, 16, ext, "IDT entry")) return f;
  const uint8_t gate_type = gate[5] & 0x1f;  // type and the S bit (0 for a gate)
  const unsigned gate_dpl = (gate[5] >> 5) & 3;
  const bool gate_present = gate[5] & 0x80;
  const unsigned ist = gate[4] & 7;
  const uint16_t selector = uint16_t(bytes_le(gate + 2, 2));
  const uint64_t offset = bytes_le(gate, 2) | bytes_le(gate + 6, 2) << 16 | bytes_le(gate + 8, 4) << 32;
  if (gate_type != kInterruptGate && gate_type != kTrapGate)
    return fault(kGP, idt_error, fmt::format("IDT entry {:#x} is not an interrupt or trap gate (type {:#x})", ev.vector, gate_type));
  if (ev.kind == Event::Kind::software && gate_dpl < cpl)
    return fault(kGP, idt_error, fmt::format("IDT entry {:#x} has DPL {} < CPL {}", ev.vector, gate_dpl, cpl));
  if (!gate_present) return fault(kNP, idt_error, fmt::format("IDT entry {:#x} not present", ev.vector));
  if (gate[13] & 0x1f)
    return fault(kGP, idt_error, fmt::format("IDT entry {:#x}: nonzero type in its upper half", ev.vector));

  // The target code segment.
  const uint32_t sel_error = (selector & 0xfffcu) | ext;
  if ((selector & ~3u) == 0) return fault(kGP, ext, fmt::format("IDT entry {:#x} has a null selector", ev.vector));
  const bool in_ldt = selector & 4;
  uint64_t table_base = cpu.gdt.base, table_limit = cpu.gdt.limit;
  if (in_ldt) {
    if (cpu.ldt.unusable || !cpu.ldt.present || (cpu.ldt.selector & ~3u) == 0)
      return fault(kGP, sel_error, fmt::format("code selector {:#x} is in the LDT but there is none", selector));
    table_base = cpu.ldt.base;
    table_limit = cpu.ldt.limit;
  }
  const char* table_name = in_ldt ? "LDT" : "GDT";
  if ((selector | 7u) > table_limit)
    return fault(kGP, sel_error, fmt::format("code selector {:#x} beyond the {} limit {:#x}", selector, table_name, table_limit));
  uint64_t d;
  if (auto f = lin.read(table_base + (selector & ~7u), &d, 8, ext, in_ldt ? "LDT entry" : "GDT entry")) return f;
  const uint8_t d_type = (d >> 40) & 0xf;
  const bool d_s = (d >> 44) & 1, d_present = (d >> 47) & 1;
  const unsigned d_dpl = (d >> 45) & 3;
  const bool d_avl = (d >> 52) & 1, d_l = (d >> 53) & 1, d_db = (d >> 54) & 1, d_g = (d >> 55) & 1;
  if (!d_s || !(d_type & 8))
    return fault(kGP, sel_error, fmt::format("selector {:#x} is not a code segment", selector));
  if (d_dpl > cpl)
    return fault(kGP, sel_error, fmt::format("code segment {:#x} has DPL {} > CPL {}", selector, d_dpl, cpl));
  if (!d_present) return fault(kNP, sel_error, fmt::format("code segment {:#x} not present", selector));
  if (!d_l || d_db) return fault(kGP, sel_error, fmt::format("code segment {:#x} is not 64-bit", selector));
  if (!canonical(cpu, offset)) return fault(kGP, ext, fmt::format("handler address {:#x} not canonical", offset));
  const bool conforming = d_type & 4;
  const unsigned new_cpl = conforming ? cpl : d_dpl;
  const bool privilege_change = new_cpl < cpl;

  // The stack.
  uint64_t stack = cpu.gpr[rsp];
  if (ist != 0 || privilege_change) {
    const uint32_t at = ist != 0 ? 0x24 + 8 * (ist - 1) : 4 + 8 * new_cpl;
    if (at + 7 > cpu.tr.limit) {
      std::string what = ist != 0 ? fmt::format("TSS.IST{}", ist) : fmt::format("TSS.RSP{}", new_cpl);
      return fault(kTS, (cpu.tr.selector & 0xfffcu) | ext, fmt::format("{} beyond the TSS limit {:#x}", what, cpu.tr.limit));
    }
    if (auto f = lin.read(cpu.tr.base + at, &stack, 8, ext, "TSS")) return f;
  }
  if (!canonical(cpu, stack)) return fault(kSS, ext, fmt::format("new stack pointer {:#x} not canonical", stack));
  stack &= ~uint64_t(15);

  // The frame, top down: SS, RSP, RFLAGS, CS, RIP, error code. Everything is
  // translated and checked before anything is written.
  const bool with_error = ev.kind == Event::Kind::exception && has_error_code(ev.vector);
  const uint64_t frame[6] = {cpu.ss.selector, cpu.gpr[rsp], cpu.rflags | (fault_class(ev) ? kRF : 0), cpu.cs.selector,
                             cpu.rip, ev.error};
  const unsigned slots = with_error ? 6 : 5;
  // The frame covers one page or two (8-byte slots on an 8-byte aligned
  // stack never straddle): one walk per page, top down like the pushes.
  uint64_t phys[6];
  debug::PageWalk walks[2];
  unsigned pages = 0;
  uint64_t walked_page = ~uint64_t(0), page_phys = 0;
  for (unsigned i = 0; i < slots; ++i) {
    const uint64_t la = stack - 8 * (i + 1);
    if (!canonical(cpu, la)) return fault(kSS, ext, fmt::format("stack slot {:#x} not canonical", la));
    if ((la & ~(kPageSize - 1)) != walked_page) {
      if (auto f = lin.translate(la, 8, true, "stack", page_phys, walks[pages])) return f;
      walked_page = la & ~(kPageSize - 1);
      page_phys &= ~(kPageSize - 1);
      ++pages;
    }
    phys[i] = page_phys | (la & (kPageSize - 1));
  }
  for (unsigned k = 0; k < pages; ++k) lin.touch(walks[k], true);
  for (unsigned i = 0; i < slots; ++i) {
    if (mem.write(phys[i], &frame[i], 8)) {
      written.push_back(phys[i] & ~(kPageSize - 1));
    } else {
      refused = true;
    }
  }

  // The new state.
  if (privilege_change) {
    Segment ss;
    ss.selector = uint16_t(new_cpl);
    ss.base = 0;
    ss.limit = 0xffffffff;
    ss.type = 3;  // read/write, accessed
    ss.s = 1;
    ss.present = 1;
    ss.dpl = uint8_t(new_cpl);
    ss.db = 1;
    ss.g = 1;
    cpu.ss = ss;
  }
  Segment cs;
  cs.selector = uint16_t((selector & ~3u) | new_cpl);
  cs.base = ((d >> 16) & 0xffffff) | ((d >> 56) & 0xff) << 24;
  uint32_t limit = uint32_t((d & 0xffff) | ((d >> 48) & 0xf) << 16);
  cs.limit = d_g ? (limit << 12) | 0xfff : limit;
  cs.type = d_type | 1;  // accessed
  cs.present = 1;
  cs.dpl = uint8_t(d_dpl);
  cs.db = 0;
  cs.s = 1;
  cs.l = 1;
  cs.g = d_g;
  cs.avl = d_avl;
  cs.unusable = 0;
  cpu.cs = cs;
  cpu.gpr[rsp] = stack - 8 * slots;
  cpu.rip = offset;
  cpu.rflags &= ~(kTF | kNT | kRF | kVM);
  if (gate_type == kInterruptGate) cpu.rflags &= ~kIF;
  cpu.interrupt_shadow = 0;
  if (cpu.run_state == RunState::halted) cpu.run_state = RunState::running;
  return std::nullopt;
}

// Sorts the pages written and drops repeats (a page may be written by
// several attempts).
void sort_written(std::vector<uint64_t>& written) {
  std::sort(written.begin(), written.end());
  written.erase(std::unique(written.begin(), written.end()), written.end());
}

// Ends a delivery in a triple fault; the bits its walks set stay reported.
void triple(DeliveryResult& out, std::string why) {
  out.outcome = DeliveryResult::Outcome::triple_fault;
  out.detail = std::move(why);
  sort_written(out.pages_written);
}

}  // namespace

bool has_error_code(uint8_t vector) {
  switch (vector) {
    case 8: case 10: case 11: case 12: case 13: case 14: case 17: case 21: case 29: case 30: return true;
    default: return false;
  }
}

bool can_take_external(const CpuState& cpu) { return (cpu.rflags & kIF) && !cpu.interrupt_shadow; }

DeliveryResult deliver(CpuState& cpu, GuestMemory& mem, const Event& ev) {
  DeliveryResult r;
  deliver(cpu, mem, ev, r);
  return r;
}

void deliver(CpuState& cpu, GuestMemory& mem, const Event& ev, DeliveryResult& out) {
  out.outcome = DeliveryResult::Outcome::delivered;
  out.detail.clear();
  out.delivered_vector = 0;
  std::vector<uint64_t>& written = out.pages_written;  // across attempts: a failed one may have set accessed bits
  written.clear();
  if (!(cpu.efer & pg::kEferLma)) return triple(out, "interrupt delivery outside 64-bit mode is not supported");
  CpuState work = cpu;
  Event current = ev;
  std::string history;  // what turned into what, for the detail line
  // Each step either delivers, stops, or moves up the classes (benign ->
  // contributory/#PF -> #PF -> #DF -> triple fault): a handful of rounds.
  bool refused = false;
  for (int round = 0; round < 8; ++round) {
    if (current.kind == Event::Kind::exception && current.vector == kPF) work.cr2 = current.cr2;
    Outcome f = attempt(work, mem, current, written, refused);
    if (refused) {
      out.outcome = DeliveryResult::Outcome::write_refused;
      out.detail = "guest memory refused a write: the power failed";
      sort_written(written);
      return;
    }
    if (!f) {
      cpu = work;
      out.detail = std::move(history);
      out.delivered_vector = current.vector;
      sort_written(written);
      return;
    }
    if (f->stop) {
      return triple(out, fmt::format("cannot deliver {}: {}{}", event_name(current), f->why,
                                history.empty() ? "" : " (after " + history + ")"));
    }
    std::string step = fmt::format("{} ({}) while delivering {}", exception_name(f->vector, f->error), f->why,
                                   event_name(current));
    Class first = classify(current.kind, current.vector);
    if (first == Class::double_fault)
      return triple(out, fmt::format("triple fault: {}{}", step, history.empty() ? "" : " (after " + history + ")"));
    // A fault of a software event's delivery is a fault of the INT instruction.
    if (current.kind == Event::Kind::software && current.insn_length) work.rip -= current.insn_length;
    if (f->vector == kPF) work.cr2 = f->cr2;
    Event next{f->vector, Event::Kind::exception, has_error_code(f->vector), f->error, f->cr2, 0};
    if (makes_double_fault(first, classify(Event::Kind::exception, f->vector))) {
      next = Event{kDF, Event::Kind::exception, true, 0, 0, 0};
      step += " -> #DF";
    }
    history += (history.empty() ? "" : "; ") + step;
    current = next;
  }
  return triple(out, fmt::format("delivery of {} did not settle: {}", event_name(ev), history));
}

}  // namespace hsls::accel::tcg
