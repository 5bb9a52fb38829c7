"""vmm run --exit-with-parent: a machine started by a process that then ends
is killed with it (as by SIGKILL: a power failure, so the NVM file keeps the
last committed checkpoint and the next start resumes it); without the flag
the machine outlives that process."""
import os
import subprocess
import sys
import time

from harness import Vmm, accel_args, check, require_accel, tmpdir

require_accel()
vmm, guest = sys.argv[1], sys.argv[2]
d = tmpdir()


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def start_orphan(flag, nvm, linger):
    """A shell starts vmm in the background, prints its pid and ends `linger` seconds later."""
    cmd = [vmm, "run"] + accel_args() + flag + ["--fresh", "--nvm", nvm, "--memory", "64M", "--no-console",
                                               "--ckpt-interval", "20", "--cmdline", "init=ledger:threads=1", guest]
    sh = subprocess.run(["sh", "-c", " ".join(f"'{a}'" for a in cmd) + f" >/dev/null 2>&1 & echo $!; sleep {linger}"],
                        capture_output=True, text=True, timeout=30)
    return int(sh.stdout.strip())


pid = start_orphan(["--exit-with-parent"], f"{d}/a.nvm", 2)  # time to boot and commit checkpoints
deadline = time.time() + 5
while alive(pid) and time.time() < deadline:
    time.sleep(0.05)
check(not alive(pid), f"vmm {pid} with --exit-with-parent still runs after its parent ended")
check(os.path.exists(f"{d}/a.nvm"), "the NVM file of the killed machine is gone")
# Its next start resumes a checkpoint the first one committed (a second's worth at 20 ms).
v = Vmm(vmm, ["--nvm", f"{d}/a.nvm", "--memory", "64M", "--ckpt-interval", "20", "--cmdline", "init=ledger:threads=1", guest])
try:
    v.wait_for("resumed checkpoint", timeout=30, stream="err")
finally:
    v.kill()
pid2 = start_orphan([], f"{d}/b.nvm", 0)
time.sleep(0.5)
try:
    check(alive(pid2), f"vmm {pid2} without --exit-with-parent ended with its parent")
finally:
    if alive(pid2):
        os.kill(pid2, 9)
print(f"ok: --exit-with-parent killed vmm {pid} with its parent; without it vmm {pid2} outlived its parent")
