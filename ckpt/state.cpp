#include "ckpt/state.h"

#include <fmt/format.h>

namespace hsls::ckpt {

std::string regs_difference(const accel::CpuState& want, const accel::CpuState& got) {
  static const char* const names[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                      "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  std::string out;
  auto add = [&](const char* name, uint64_t a, uint64_t b) {
    if (a != b) out += fmt::format("{}{} saved {:#x} loaded {:#x}", out.empty() ? "" : ", ", name, a, b);
  };
  for (unsigned i = 0; i < 16; ++i) add(names[i], want.gpr[i], got.gpr[i]);
  add("rip", want.rip, got.rip);
  add("rflags", want.rflags, got.rflags);
  return out;
}

}  // namespace hsls::ckpt
