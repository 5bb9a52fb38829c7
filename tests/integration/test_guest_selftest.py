"""The guest's self-tests on 2 vCPUs: in-kernel capability tests plus the
user-mode cases init runs (IPC, notifications, scheduling across CPUs, a
faulting program killed with a report while the others continue). Checks the
verdict line, the fault report and the exit code. Also: init.poweroff=when-done
with a program that exits. Argv: VMM GUEST."""
import re
import sys

from harness import check, require_accel, run_vmm, tmpdir

require_accel()
vmm, guest = sys.argv[1], sys.argv[2]
d = tmpdir()
code, out, err = run_vmm(vmm, ["--fresh", "--nvm", f"{d}/nvm", "--memory", "128M", "--vcpus", "2",
                               "--cmdline", "selftest", guest], timeout=120)
dump = f"--- stdout:\n{out}\n--- stderr:\n{err}"
m = re.search(r"^selftest: (\d+) passed, (\d+) failed$", out, re.M)
check(m is not None, "no selftest verdict line\n" + dump)
check(int(m.group(1)) >= 50 and int(m.group(2)) == 0, f"self-tests failed: {m.group(0)}\n" + dump)
check(re.search(r"^fault: utest \(pid \d+\) killed: #PF addr=0xdead0000 rip=0x[0-9a-f]+ ", out, re.M),
      "no report for the faulting program\n" + dump)
check(re.search(r"^utest ipc: call/reply round trip \d+ us", out, re.M), "no IPC figures\n" + dump)
check(code == 0, f"exit code {code}, expected 0\n" + dump)

# when-done: a faulting program makes the code 1; init reports the exit.
code, out, err = run_vmm(vmm, ["--fresh", "--nvm", f"{d}/nvm", "--memory", "64M", "--vcpus", "2",
                               "--cmdline", "init=utest:alive;utest:fault init.poweroff=when-done", guest], timeout=60)
dump = f"--- stdout:\n{out}\n--- stderr:\n{err}"
check("init: utest exited with 0" in out and "init: utest exited with 142 (killed)" in out,
      "init did not report both exits\n" + dump)
check(code == 1, f"exit code {code}, expected 1 (a program was killed)\n" + dump)
print(f"ok: {m.group(0)}")
