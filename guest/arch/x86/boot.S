/*
 * PVH entry: the VMM (or QEMU) starts us in 32-bit protected mode with paging
 * off and EBX = physical address of hvm_start_info. We load the boot GDT and
 * the static boot page tables, enter long mode and call bsp_main(start_info)
 * in the kernel image window on CPU 0's stack.
 *
 * Every instruction here runs in KVM's emulator on PVM hosts (~1 us each),
 * so the page tables are built by the assembler, not by a loop at run time.
 */
#include "arch/x86/memory.h"

/* The Xen PVH note: XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen". */
        .section .note.Xen, "a"
        .balign 4
        .long   4
        .long   4
        .long   18
        .asciz  "Xen"
        .long   pvh_entry
        .balign 4

        .section .boot.text, "ax"
        .code32
        .global pvh_entry
pvh_entry:
        cli
        mov     %ebx, %esi
        lgdt    boot_gdt_desc
        mov     $boot_pml4, %eax
        mov     %eax, %cr3
        mov     $CR4_BOOT, %eax
        mov     %eax, %cr4
        mov     $MSR_EFER, %ecx
        rdmsr
        or      $EFER_LME, %eax
        wrmsr
        mov     $CR0_BOOT, %eax
        mov     %eax, %cr0
        ljmp    $SEL_KCODE, $1f

        .code64
1:      mov     $SEL_KDATA, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %ss
        movabs  $kernel_stacks + STACK_SIZE, %rsp
        mov     %esi, %edi
        movabs  $bsp_main, %rax
        call    *%rax
2:      cli
        hlt
        jmp     2b

/* Boot GDT: used by the BSP until its per-CPU GDT is loaded, and by APs in the trampoline. */
        .section .boot.data, "aw"
        .balign 16
        .global boot_gdt
boot_gdt:
        .quad   0
        .quad   0x00af9b000000ffff      /* 0x08: 64-bit code */
        .quad   0x00cf93000000ffff      /* 0x10: flat data */
        .quad   0x00cf9b000000ffff      /* 0x18: flat 32-bit code (AP trampoline) */
boot_gdt_end:
        .balign 8
boot_gdt_desc:
        .word   boot_gdt_end - boot_gdt - 1
        .long   boot_gdt

/*
 * Boot page tables, 4 KiB pages only: physical [4 KiB, BOOT_MAP_END) is mapped
 * at 0 (identity), PHYS_BASE (direct map) and KERNEL_VMA (image window); they
 * share one PDPT and one PD. The IOAPIC and LAPIC pages are mapped uncached in
 * the direct map. Page 0 stays unmapped to catch null pointers.
 */
#define PTE_P   0x001
#define PTE_W   0x002
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_A   0x020
#define PTE_D   0x040
/* Accessed and dirty preset: the CPU never writes them back, so a page
 * table changes only when the kernel writes it (and every such write is in
 * the dirty log on every accelerator). */
#define PTE_KRW (PTE_P | PTE_W | PTE_A | PTE_D)
#define PTE_MMIO (PTE_P | PTE_W | PTE_PWT | PTE_PCD | PTE_A | PTE_D)

        .section .boot.pt, "aw"
        .balign 4096
        .global boot_pml4
boot_pml4:
        .quad   boot_pdpt_dm + PTE_KRW          /* [0]   identity */
        .fill   255, 8, 0
        .quad   boot_pdpt_dm + PTE_KRW          /* [256] direct map */
        .fill   254, 8, 0
        .quad   boot_pdpt_k + PTE_KRW           /* [511] image window */

boot_pdpt_dm:
        .quad   boot_pd0 + PTE_KRW              /* 0-1 GiB */
        .quad   0, 0
        .quad   boot_pd3 + PTE_KRW              /* 3-4 GiB: IOAPIC, LAPIC */
        .fill   508, 8, 0

boot_pdpt_k:
        .fill   510, 8, 0
        .quad   boot_pd0 + PTE_KRW              /* -2 GiB -> physical 0 */
        .quad   0

boot_pd0:
        .set    i, 0
        .rept   BOOT_PTS
        .quad   boot_pt + i * 4096 + PTE_KRW
        .set    i, i + 1
        .endr
        .fill   512 - BOOT_PTS, 8, 0

boot_pd3:
        .fill   (IOAPIC_PHYS >> 21) & 511, 8, 0
        .quad   boot_pt_ioapic + PTE_KRW
        .quad   boot_pt_lapic + PTE_KRW
        .fill   510 - ((IOAPIC_PHYS >> 21) & 511), 8, 0

boot_pt:
        .quad   0
        .set    i, 1
        .rept   BOOT_PTS * 512 - 1
        .quad   i * 4096 + PTE_KRW
        .set    i, i + 1
        .endr

boot_pt_ioapic:
        .quad   IOAPIC_PHYS + PTE_MMIO
        .fill   511, 8, 0

boot_pt_lapic:
        .quad   LAPIC_PHYS + PTE_MMIO
        .fill   511, 8, 0

/* Physical addresses the kernel (linked in the high half) needs. */
        .section .rodata
        .balign 8
        .global boot_pml4_phys
boot_pml4_phys:
        .quad   boot_pml4

        .section .note.GNU-stack, "", @progbits
