#include "kernel/percpu.h"

#include "arch/x86/cpu.h"
#include "arch/x86/idt.h"

Cpu cpus[MAX_CPUS];
alignas(PAGE_SIZE) char kernel_stacks[MAX_CPUS][STACK_SIZE];

namespace {

alignas(PAGE_SIZE) char ist_stacks[MAX_CPUS][IST_SIZE];  // #DF stacks
constexpr u32 MSR_GS_BASE = 0xc0000101;
constexpr u32 MSR_KERNEL_GS_BASE = 0xc0000102;

}  // namespace

void Cpu::init_local(unsigned cpu_id) {
  self = this;
  id = cpu_id;
  tss.rsp[0] = reinterpret_cast<u64>(kernel_stacks[cpu_id] + STACK_SIZE);
  tss.ist[0] = reinterpret_cast<u64>(ist_stacks[cpu_id] + IST_SIZE);
  tss.iomap_base = sizeof(Tss);
  gdt.load(&tss);
  x86::wrmsr(MSR_GS_BASE, reinterpret_cast<u64>(this));
  x86::wrmsr(MSR_KERNEL_GS_BASE, 0);
  Idt::load();
}
