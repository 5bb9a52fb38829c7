"""Boots guest.img with N vCPUs and the kernel self-tests: the banner names
every CPU and the memory size, the self-tests pass, the exit code is 0."""
import os
import re
import sys

from harness import check, fail, require_accel, run_vmm, tmpdir

require_accel()
vmm, guest, ncpus = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = tmpdir()
code, out, err = run_vmm(vmm, ["--fresh", "--nvm", f"{d}/nvm", "--memory", "128M", "--vcpus", str(ncpus),
                               "--cmdline", "selftest", guest], timeout=120)
dump = f"--- stdout:\n{out}\n--- stderr:\n{err}"
m = re.search(r"hypersls guest: cpus=(\d+) memory=(\d+) MiB", out)
check(m is not None, "no banner line\n" + dump)
check(int(m.group(1)) == ncpus, f"banner says cpus={m.group(1)}, expected {ncpus}\n" + dump)
check(126 <= int(m.group(2)) <= 128, f"banner says memory={m.group(2)} MiB for a 128 MiB guest\n" + dump)
m = re.search(r"^selftest: (\d+) passed, (\d+) failed$", out, re.M)
check(m is not None, "no selftest verdict line\n" + dump)
check(int(m.group(1)) > 0 and int(m.group(2)) == 0, f"self-tests failed: {m.group(0)}\n" + dump)
check(code == 0, f"exit code {code}, expected 0 (guest powered off after passing self-tests)\n" + dump)
check(os.path.exists(f"{d}/nvm"), "the NVM file was not kept")
os.unlink(f"{d}/nvm")
print(f"ok: {ncpus} vCPU(s) booted, {m.group(0)}")
