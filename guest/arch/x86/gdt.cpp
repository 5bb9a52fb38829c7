#include "arch/x86/gdt.h"

#include "arch/x86/memory.h"

void Gdt::load(const Tss* tss) {
  u64 base = reinterpret_cast<u64>(tss);
  u64 limit = sizeof(Tss) - 1;
  desc_[0] = 0;
  desc_[1] = 0x00af9b000000ffff;  // kernel code, 64-bit
  desc_[2] = 0x00cf93000000ffff;  // kernel data
  desc_[3] = 0;                   // user code, 32-bit (unused)
  desc_[4] = 0x00cff3000000ffff;  // user data, DPL 3
  desc_[5] = 0x00affb000000ffff;  // user code, 64-bit, DPL 3
  desc_[6] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) | (((limit >> 16) & 0xf) << 48) |
             (((base >> 24) & 0xff) << 56);
  desc_[7] = base >> 32;

  struct {
    u16 limit;
    u64 base;
  } __attribute__((packed)) gdtr = {sizeof desc_ - 1, reinterpret_cast<u64>(desc_)};
  asm volatile(
      "lgdt %0\n"
      "pushq %1\n"
      "leaq 1f(%%rip), %%rax\n"
      "pushq %%rax\n"
      "lretq\n"
      "1: mov %2, %%eax\n"
      "mov %%eax, %%ds\n"
      "mov %%eax, %%es\n"
      "mov %%eax, %%ss\n"
      "xor %%eax, %%eax\n"
      "mov %%eax, %%fs\n"
      "mov %%eax, %%gs\n"
      "ltr %w3\n"
      :
      : "m"(gdtr), "i"(SEL_KCODE), "i"(SEL_KDATA), "r"(SEL_TSS)
      : "rax", "memory");
}
