"""The KVM smoke leg for machines without /dev/kvm: tools/kvm-smoke/run boots
Debian's 6.12 cloud kernel in QEMU TCG with emulated AMD SVM and runs this vmm
on the inner /dev/kvm (kvm_amd; selftest on 1 and 2 vCPUs, the monitor, a
crash report, a checkpointing run with a power failure and its recovery, a
checkpoint resumed across accelerators, tcg -> kvm -> tcg). Its exit code is
passed through: 0 pass, 1 fail, 77 skip (when /dev/kvm exists here the normal
KVM tests run instead; or QEMU or the kernel cannot be had). See
../shared/design/nested-kvm.md.

argv: VMM GUEST [extra arguments for tools/kvm-smoke/run, e.g. --checks kvm,crash]"""
import os
import signal
import subprocess
import sys

SKIP = 77

vmm, guest = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
run = os.path.join(root, "tools", "kvm-smoke", "run")
if not os.access(run, os.X_OK):
    print(f"FAIL: {run} is missing or not executable", file=sys.stderr)
    sys.exit(1)

proc = subprocess.Popen([run, "--vmm", vmm, "--guest", guest] + sys.argv[3:], stdin=subprocess.DEVNULL)


def _forward(signum, frame):
    # meson's timeout sends SIGTERM: let the script stop QEMU and clean up.
    proc.send_signal(signum)


signal.signal(signal.SIGTERM, _forward)
signal.signal(signal.SIGINT, _forward)
code = proc.wait()
if code == SKIP:
    print("SKIP: kvm-smoke skipped (tools/kvm-smoke/run said why, above)", file=sys.stderr)
elif code < 0:
    code = 128 - code
sys.exit(code)
