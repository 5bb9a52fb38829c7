"""A checkpoint taken under one accelerator resumes under the other:
tcg -> kvm -> tcg on one NVM file, each start verified page by page by the
digest oracle (--verify) and by the guest's own ledger (`ledger ok`), and
each machine going on to commit checkpoints of its own. Needs both
accelerators: it belongs to the KVM leg and skips (77) without /dev/kvm."""
import os
import signal
import sys
import time

from harness import Monitor, Vmm, check, fail, skip, tmpdir

vmm, guest = sys.argv[1], sys.argv[2]
if not os.path.exists("/dev/kvm"):
    skip("/dev/kvm is absent on this machine; the cross-accelerator resume needs both accelerators")
d = tmpdir()
nvm, sock = f"{d}/nvm", f"{d}/mon.sock"
cmdline = "init=memstress:pages=300,rate=20000,hot=10,hotpct=90,threads=1;ledger:threads=2"
common = ["--nvm", nvm, "--memory", "128M", "--vcpus", "2", "--ckpt-interval", "10", "--verify",
          "--monitor", sock, "--cmdline", cmdline, guest]


def leg(accel, first):
    v = Vmm(vmm, ["--accel", accel] + (["--fresh"] if first else []) + common)
    try:
        m = Monitor(sock, timeout=60)
        for _ in range(200):  # the machine may still be powering on
            status = m.cmd("info status")
            if status.get("ok") or "powered off" not in status.get("error", ""):
                break
            time.sleep(0.02)
        check(status.get("accel") == accel, f"{accel}: info status says {status}")
        if not first:
            v.wait_for("resumed checkpoint", timeout=30, stream="err")
            check("digests verified" in v.stderr(), f"{accel}: the resume was not verified\n{v.dump()[-4000:]}")
            check("was taken under" in v.stderr(), f"{accel}: no note that the checkpoint came from the other accelerator")
        a = m.cmd("info ckpt")["committed_version"]
        time.sleep(0.6)
        b = m.cmd("info ckpt")["committed_version"]
        check(b > a, f"{accel}: no checkpoint committed: {a} -> {b}")
        n = v.stdout().count("ledger ok")
        check(m.cmd("serial ledger verify")["ok"], "serial ledger verify")
        deadline = time.time() + 20
        while v.stdout().count("ledger ok") <= n and time.time() < deadline:
            check("ledger CORRUPT" not in v.stdout(), f"{accel}: ledger corrupt\n{v.dump()[-4000:]}")
            time.sleep(0.05)
        check(v.stdout().count("ledger ok") > n, f"{accel}: no 'ledger ok' after 'ledger verify'\n{v.dump()[-4000:]}")
        version = m.cmd("info ckpt")["committed_version"]
        os.kill(v.proc.pid, signal.SIGKILL)  # a crash: the next start resumes the last commit
        v.wait(timeout=30)
        return version
    finally:
        v.kill()


v1 = leg("tcg", True)
v2 = leg("kvm", False)
v3 = leg("tcg", False)
check(v1 < v2 < v3, f"versions did not advance across the legs: {v1}, {v2}, {v3}")
print(f"ok: tcg -> kvm -> tcg on one NVM file, each resume verified and the ledger intact (versions {v1}, {v2}, {v3})")
