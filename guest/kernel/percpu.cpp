#include "kernel/percpu.h"

#include "arch/x86/cpu.h"
#include "arch/x86/idt.h"
#include "abi/descriptor.h"

Cpu cpus[MAX_CPUS];

// entry.S reaches these through %gs.
static_assert(__builtin_offsetof(Cpu, kstack_top) == 8);
static_assert(__builtin_offsetof(Cpu, thread) == 16);
static_assert(__builtin_offsetof(Cpu, ticks) == 24);
static_assert(__builtin_offsetof(Cpu, desc_ticks) == 32);
static_assert(__builtin_offsetof(Cpu, tick_slow) == 40);
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
  kstack_top = tss.rsp[0];
  desc_ticks = &phys_to_virt<hsls_desc::Descriptor>(DESCRIPTOR_PHYS)->cpus[cpu_id].ticks;
  tss.iomap_base = Tss::NO_IOMAP;
  for (unsigned i = 0; i < sizeof tss.iomap; i++) tss.iomap[i] = 0xff;
  tss.iomap[0x3f8 / 8] = 0;  // COM1 (ports 0x3f8-0x3ff), for threads granted its IrqNotification
  asm volatile("mov %%cr3, %0" : "=r"(cr3));
  gdt.load(&tss);
  x86::wrmsr(MSR_GS_BASE, reinterpret_cast<u64>(this));
  x86::wrmsr(MSR_KERNEL_GS_BASE, 0);
  Idt::load();
}

void Cpu::flush_tlb() {
  u64 v;
  asm volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(v) : : "memory");
  __atomic_store_n(&flush_pending, 0, __ATOMIC_RELEASE);
}
