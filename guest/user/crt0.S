/* Program entry: rdi = StartInfo* (top of the stack the kernel built). */
        .section .text.start, "ax"
        .global _start
_start:
        and     $-16, %rsp
        call    ulib_start
        ud2
        .section .note.GNU-stack, "", @progbits
