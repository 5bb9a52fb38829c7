// Guest virtual/physical memory layout. Included from C++ and from .S files.
//
//   0x0000_0000_0000_0000 + p   identity map of the boot map (boot, AP trampoline)
//   0xffff_8000_0000_0000 + p   direct map of physical memory (grown on demand)
//   0xffff_ffff_8000_0000 + p   kernel image window (link address of .text/.data)
//
// The boot page tables (boot.S) map physical [4 KiB, BOOT_MAP_END) through all
// three windows with 4 KiB pages, plus the IOAPIC and LAPIC pages in the direct
// map. The page allocator extends the direct map 2 MiB at a time.
#pragma once

#define KERNEL_VMA      0xffffffff80000000
#define PHYS_BASE       0xffff800000000000
#define LOAD_ADDR       0x100000
#define BOOT_MAP_END    0x400000        // linker.ld repeats this value
#define BOOT_PTS        (BOOT_MAP_END >> 21)

#define TRAMP_BASE      0x8000
#define DESCRIPTOR_PHYS 0x7000          // object-tree descriptor (abi/descriptor.h)
#define IOAPIC_PHYS     0xfec00000
#define LAPIC_PHYS      0xfee00000

#define MAX_CPUS        8
#define STACK_SHIFT     14
#define STACK_SIZE      (1 << STACK_SHIFT)
#define IST_SIZE        0x1000
#define PAGE_SIZE       0x1000

// Boot GDT selectors (boot.S); the per-CPU GDT keeps 0x08/0x10.
#define SEL_KCODE       0x08
#define SEL_KDATA       0x10
#define SEL_BOOT_CODE32 0x18
#define SEL_UDATA       0x23
#define SEL_UCODE       0x2b
#define SEL_TSS         0x30

#define CR0_BOOT        0x80010033      // PG | WP | NE | ET | MP | PE
#define CR4_BOOT        0x00000620      // OSXMMEXCPT | OSFXSR | PAE
#define MSR_EFER        0xc0000080
#define EFER_LME        0x100

// Interrupt vectors.
#define VEC_PIC_BASE    0x20            // legacy PIC, remapped and masked
#define VEC_TIMER       0x30            // LAPIC timer
#define VEC_TIMER_SLOW  0x31            // pseudo-vector: a timer tick from ring 3 needing the full path
#define VEC_IRQ_BASE    0x40            // IOAPIC pin N -> VEC_IRQ_BASE + N (IrqNotification)
#define VEC_CALL        0xf0            // cross-CPU function call IPI
#define VEC_RESCHED     0xf1            // re-schedule / TLB shoot-down IPI
#define VEC_SPURIOUS    0xff            // LAPIC spurious

#ifndef __ASSEMBLER__
#include "kernel/types.h"

// Virtual address of physical address p in the direct map.
template <typename T = void>
inline T* phys_to_virt(Paddr p) { return reinterpret_cast<T*>(p + PHYS_BASE); }

// Physical address of a direct-map address.
inline Paddr virt_to_phys(const void* v) { return reinterpret_cast<Vaddr>(v) - PHYS_BASE; }

// Physical address of a kernel image symbol.
inline Paddr image_to_phys(const void* v) { return reinterpret_cast<Vaddr>(v) - KERNEL_VMA; }
#endif
