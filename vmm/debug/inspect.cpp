#include "vmm/debug/inspect.h"

#include <capstone/capstone.h>
#include <fmt/format.h>

#include "vmm/debug/page_walk.h"

namespace hsls::debug {
using accel::CpuState;

std::optional<uint64_t> translate(const GuestMemory& mem, const CpuState& cpu, uint64_t linear) {
  auto w = walk(mem, cpu, linear);
  if (!w) return std::nullopt;
  return w->phys;
}

int cpu_bits(const CpuState& s) {
  if ((s.efer & paging::kEferLma) && s.cs.l) return 64;
  return s.cs.db ? 32 : 16;
}

std::vector<Insn> disassemble(const GuestMemory& mem, uint64_t gpa, uint64_t label, unsigned count, int bits) {
  std::vector<Insn> out;
  // Take what is readable: up to 15 bytes per instruction, not past RAM.
  std::vector<uint8_t> code(size_t(count) * 15);
  size_t len = code.size();
  while (len > 0 && !mem.read(gpa, code.data(), len)) len = len > 64 ? len - 64 : len - 1;
  if (len == 0) return out;
  csh handle;
  cs_mode mode = bits == 64 ? CS_MODE_64 : bits == 32 ? CS_MODE_32 : CS_MODE_16;
  if (cs_open(CS_ARCH_X86, mode, &handle) != CS_ERR_OK) return out;
  cs_insn* insn = nullptr;
  size_t n = cs_disasm(handle, code.data(), len, label, count, &insn);
  for (size_t i = 0; i < n; ++i) {
    std::string hex;
    for (unsigned b = 0; b < insn[i].size; ++b) hex += fmt::format("{:02x}", insn[i].bytes[b]);
    std::string text = insn[i].mnemonic;
    if (insn[i].op_str[0]) text += std::string(" ") + insn[i].op_str;
    out.push_back({insn[i].address, hex, text});
  }
  if (n) cs_free(insn, n);
  cs_close(&handle);
  return out;
}

std::vector<std::string> code_around(const GuestMemory& mem, const CpuState& s, uint64_t rip, unsigned after) {
  std::vector<std::string> lines;
  int bits = cpu_bits(s);
  uint64_t linear = bits == 64 ? rip : s.cs.base + rip;
  auto phys = translate(mem, s, linear);
  if (!phys) {
    lines.push_back(fmt::format("   (rip {:#x} is not mapped by the guest page tables)", linear));
    return lines;
  }
  // Before rip: find the earliest start (up to 32 bytes back, same page) that decodes onto rip exactly.
  std::vector<Insn> before;
  uint64_t back = std::min<uint64_t>(32, *phys & 0xfff);
  for (uint64_t k = back; k > 0; --k) {
    auto insns = disassemble(mem, *phys - k, linear - k, 16, bits);
    std::vector<Insn> prefix;
    for (const auto& i : insns) {
      if (i.address >= linear) break;
      prefix.push_back(i);
    }
    uint64_t end = prefix.empty() ? 0 : prefix.back().address + prefix.back().bytes.size() / 2;
    if (end == linear && prefix.size() >= 2) {
      before = prefix;
      break;
    }
  }
  if (before.size() > 4) before.erase(before.begin(), before.end() - 4);
  for (const auto& i : before) lines.push_back(fmt::format("   {:#018x}: {:<20} {}", i.address, i.bytes, i.text));
  auto at = disassemble(mem, *phys, linear, after, bits);
  if (at.empty()) lines.push_back(fmt::format("=> {:#018x}: (cannot decode)", linear));
  for (size_t n = 0; n < at.size(); ++n)
    lines.push_back(fmt::format("{} {:#018x}: {:<20} {}", n == 0 ? "=>" : "  ", at[n].address, at[n].bytes, at[n].text));
  return lines;
}

std::string format_registers(const CpuState& s) {
  using namespace accel;  // the Gpr indices
  const uint64_t* r = s.gpr;
  std::string out;
  out += fmt::format("rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}\n", r[rax], r[rbx], r[rcx], r[rdx]);
  out += fmt::format("rsi={:016x} rdi={:016x} rbp={:016x} rsp={:016x}\n", r[rsi], r[rdi], r[rbp], r[rsp]);
  out += fmt::format("r8 ={:016x} r9 ={:016x} r10={:016x} r11={:016x}\n", r[r8], r[r9], r[r10], r[r11]);
  out += fmt::format("r12={:016x} r13={:016x} r14={:016x} r15={:016x}\n", r[r12], r[r13], r[r14], r[r15]);
  out += fmt::format("rip={:016x} rflags={:08x}\n", s.rip, s.rflags);
  out += fmt::format("cr0={:016x} cr2={:016x} cr3={:016x} cr4={:016x} efer={:x}\n", s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
  auto seg = [&](const char* name, const Segment& g) {
    out += fmt::format("{:<3}={:04x} base={:016x} limit={:08x} type={:x} dpl={} p={} db={} l={} g={}\n", name, g.selector,
                       g.base, g.limit, g.type, g.dpl, g.present, g.db, g.l, g.g);
  };
  seg("cs", s.cs); seg("ds", s.ds); seg("es", s.es); seg("ss", s.ss);
  seg("fs", s.fs); seg("gs", s.gs); seg("tr", s.tr); seg("ldt", s.ldt);
  out += fmt::format("gdt base={:016x} limit={:04x}  idt base={:016x} limit={:04x}\n", s.gdt.base, s.gdt.limit,
                     s.idt.base, s.idt.limit);
  return out;
}

std::string crash_report(const std::string& reason, unsigned vcpu, const CpuState& cpu, const GuestMemory& mem) {
  std::string out = fmt::format("VM stopped: {} on vCPU {}\n", reason, vcpu);
  out += format_registers(cpu);
  out += fmt::format("code ({}-bit):\n", cpu_bits(cpu));
  for (const auto& line : code_around(mem, cpu, cpu.rip, 6)) out += line + "\n";
  return out;
}

}  // namespace hsls::debug
