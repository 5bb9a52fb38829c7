/*
 * Interrupt and exception entry. intr_stubs holds one 16-byte stub per
 * vector (Idt::init() points the gates used at intr_stubs + 16 * vector).
 * Each stub pushes a zero error code if the CPU does not push one, then the
 * vector, and joins intr_common, which saves the general registers as an
 * intr::Frame and calls intr_dispatch(frame).
 */
#include "arch/x86/memory.h"

        .text
        .balign 16
        .global intr_stubs
intr_stubs:
        .set    vec, 0
        .rept   256
        .balign 16
        .if     !(vec == 8 || vec == 10 || vec == 11 || vec == 12 || vec == 13 || vec == 14 || vec == 17 || vec == 21 || vec == 29 || vec == 30)
        pushq   $0
        .endif
        pushq   $vec
        jmp     intr_common
        .set    vec, vec + 1
        .endr

        .balign 16
intr_common:
        testb   $3, 24(%rsp)                    /* from user mode: switch GS */
        jz      1f
        swapgs
1:      push    %rax
        push    %rbx
        push    %rcx
        push    %rdx
        push    %rsi
        push    %rdi
        push    %rbp
        push    %r8
        push    %r9
        push    %r10
        push    %r11
        push    %r12
        push    %r13
        push    %r14
        push    %r15
        mov     %rsp, %rdi
        cld
        call    intr_dispatch
        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %r11
        pop     %r10
        pop     %r9
        pop     %r8
        pop     %rbp
        pop     %rdi
        pop     %rsi
        pop     %rdx
        pop     %rcx
        pop     %rbx
        pop     %rax
        testb   $3, 24(%rsp)
        jz      2f
        swapgs
2:      add     $16, %rsp
        iretq

/*
 * bool probe_read64(const void* addr, u64* out): reads 8 bytes at addr into
 * *out; returns false instead of faulting if addr is not mapped (the fault
 * handler resumes at the fixup listed in .extable).
 */
        .global probe_read64
probe_read64:
1:      mov     (%rdi), %rax
        mov     %rax, (%rsi)
        mov     $1, %eax
        ret
2:      xor     %eax, %eax
        ret
        .pushsection .extable, "a"
        .quad   1b, 2b
        .popsection

        .section .note.GNU-stack, "", @progbits
