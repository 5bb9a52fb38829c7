/*
 * AP trampoline. Smp::boot_aps() copies [trampoline_start, trampoline_end)
 * to TRAMP_BASE; a STARTUP IPI with vector TRAMP_BASE >> 12 starts an AP
 * here in real mode (CS = TRAMP_BASE >> 4, IP = 0). The code goes through
 * 32-bit protected mode into long mode on the boot page tables, picks its
 * stack by APIC ID (= CPU index) and calls ap_main(id).
 */
#include "arch/x86/memory.h"

#define T(label) (TRAMP_BASE + (label) - trampoline_start)

        .section .rodata.trampoline, "a"
        .global trampoline_start, trampoline_end
        .code16
trampoline_start:
        cli
        mov     %cs, %ax
        mov     %ax, %ds
        lgdtl   tramp_gdt_desc - trampoline_start
        mov     %cr0, %eax
        or      $1, %eax
        mov     %eax, %cr0
        ljmpl   $SEL_BOOT_CODE32, $T(tramp32)

        .code32
tramp32:
        mov     $SEL_KDATA, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %ss
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
        ljmp    $SEL_KCODE, $T(tramp64)

        .code64
tramp64:
        mov     $1, %eax
        cpuid
        shr     $24, %ebx                       /* initial APIC ID */
        cmp     $MAX_CPUS, %ebx
        jae     1f
        lea     1(%rbx), %rax
        shl     $STACK_SHIFT, %rax
        movabs  $kernel_stacks, %rsp
        add     %rax, %rsp
        mov     %ebx, %edi
        movabs  $ap_main, %rax
        call    *%rax
1:      cli
        hlt
        jmp     1b

        .balign 8
tramp_gdt_desc:
        .word   31                              /* boot GDT: 4 descriptors */
        .long   boot_gdt
trampoline_end:

        .section .note.GNU-stack, "", @progbits
