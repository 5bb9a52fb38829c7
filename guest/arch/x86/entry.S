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
        testb   $3, 24(%rsp)                    /* CS: from user mode? */
        jnz     from_user
        push    %rax
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
        add     $16, %rsp
        iretq

/*
 * LAPIC timer (VEC_TIMER). From ring 3, the common case -- nothing else is
 * ready on this CPU and no timeout is due -- is handled here in a dozen
 * instructions (ring 0 is emulated at ~1 us per instruction on PVM hosts):
 * count the tick, EOI, return. Otherwise, or from ring 0, take the full
 * path; from ring 3 as the pseudo-vector VEC_TIMER_SLOW (tick counted, EOI sent).
 */
        .global timer_entry
timer_entry:
        testb   $3, 8(%rsp)                     /* CS (no error code) */
        jz      2f
        swapgs
        push    %rax                            /* scratch, in the frame's error slot */
        push    %rdx                            /* ... and its vector slot */
        incq    %gs:24
        mov     %gs:32, %rax
        incq    (%rax)
        movabs  $(PHYS_BASE + LAPIC_PHYS + 0xb0), %rax
        movl    $0, (%rax)                      /* EOI */
        cmpl    $0, %gs:40
        jne     1f
        rdtsc
        shl     $32, %rdx
        or      %rdx, %rax
        cmp     sched_next_wake(%rip), %rax
        jae     1f
        pop     %rdx
        pop     %rax
        swapgs
        iretq
1:      pop     %rdx
        pop     %rax
        swapgs
        pushq   $0
        pushq   $VEC_TIMER_SLOW
        jmp     intr_common
2:      pushq   $0
        pushq   $VEC_TIMER
        jmp     intr_common

/*
 * From ring 3 the CPU switched to TSS.rsp0, the end of the running Thread's
 * frame: the registers pushed here complete that frame in place. Then switch
 * to this CPU's kernel stack (%gs:8) and call user_trap(frame), which never
 * returns (it ends by resuming some thread through resume_user).
 */
from_user:
        swapgs
        push    %rax
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
        mov     %gs:8, %rsp
        cld
        call    user_trap
        ud2

/* void resume_user(Frame* f): returns to ring 3 with the registers in *f. */
        .global resume_user
resume_user:
        mov     %rdi, %rsp
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
        add     $16, %rsp
        swapgs
        iretq

/* void on_fresh_stack(void (*fn)()): calls fn at the top of this CPU's kernel stack. */
        .global on_fresh_stack
on_fresh_stack:
        mov     %gs:8, %rsp
        call    *%rdi
        ud2

/*
 * int copy_user(void* dst, const void* src, size_t n): copies from user
 * memory; a fault the page-fault handler cannot resolve returns 1.
 */
        .global copy_user
copy_user:
        mov     %rdx, %rcx
3:      rep movsb
        xor     %eax, %eax
        ret
4:      mov     $1, %eax
        ret
        .pushsection .extable, "a"
        .quad   3b, 4b
        .popsection

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
