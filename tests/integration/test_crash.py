"""Unexpected exits stop the VM with a report: exit reason, registers and
segments, and Capstone disassembly around rip; vmm exits with 70."""
import os
import sys

from harness import check, pvh_elf, require_accel, run_vmm, tmpdir

require_accel()
vmm, guest = sys.argv[1], sys.argv[2]
d = tmpdir()


def expect_report(args, reason, insn):
    code, out, err = run_vmm(vmm, ["--fresh", "--nvm", f"{d}/nvm", "--memory", "64M"] + args, timeout=120)
    dump = f"--- stdout:\n{out}\n--- stderr:\n{err}"
    check(code == 70, f"exit code {code}, expected 70 for {reason}\n" + dump)
    check(reason in err, f"report does not name {reason!r}\n" + dump)
    for part in ("rip=", "rflags=", "cr0=", "cs =", "ss =", "gdt base="):
        check(part in err, f"report lacks {part!r}\n" + dump)
    arrow = [l for l in err.splitlines() if l.startswith("=> ")]
    check(len(arrow) == 1, "report has no '=>' line at rip\n" + dump)
    # KVM completes port I/O before exiting, so rip may already be past the instruction.
    listing = err[err.index("code ("):]
    check(insn in listing, f"the disassembly around rip lacks {insn!r}\n" + dump)
    return out, err


# The real guest, asked to triple fault after its banner.
out, err = expect_report(["--cmdline", "crash=triplefault", guest], "triple fault", "")
check("hypersls guest:" in out, "the guest did not print its banner before the triple fault")

# A tiny image that writes to a port no device owns: mov dx,0x1234; out dx,al.
img = f"{d}/badport.elf"
open(img, "wb").write(pvh_elf(bytes([0x66, 0xba, 0x34, 0x12, 0xee, 0xf4])))
expect_report([img], "unowned I/O port write at 0x1234", "out dx, al")

# A tiny image that reads MMIO nobody owns: mov eax,[0xd0000000].
img = f"{d}/badmmio.elf"
open(img, "wb").write(pvh_elf(bytes([0xa1, 0x00, 0x00, 0x00, 0xd0, 0xf4])))
expect_report([img], "unowned MMIO read at 0xd0000000", "mov eax")

os.unlink(f"{d}/nvm")
print("ok: triple fault, unowned port and unowned MMIO each stopped the VM with a full report")
