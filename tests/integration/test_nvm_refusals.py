"""A corrupt, foreign or mismatching NVM file is refused with one line and
left untouched; --fresh starts over. A checkpointed machine resumes on the
next `vmm run` and says so."""
import hashlib
import os
import sys

from harness import Monitor, Vmm, check, require_accel, run_vmm, tmpdir

require_accel()
vmm, guest = sys.argv[1], sys.argv[2]
d = tmpdir()
nvm = f"{d}/nvm"
base = ["--nvm", nvm, "--memory", "64M"]
digest = lambda: hashlib.sha256(open(nvm, "rb").read()).hexdigest()


def refused(args, expect, label):
    before = digest()
    code, out, err = run_vmm(vmm, args, timeout=60)
    lines = [l for l in err.splitlines() if l.strip()]
    check(code == 1 and lines and lines[-1].startswith("vmm: error: ") and expect in lines[-1],
          f"{label}: expected one error line with {expect!r}, got exit {code}:\n{err}")
    check(digest() == before, f"{label}: the refused start changed the NVM file")


# A machine with a committed checkpoint.
sock = f"{d}/mon.sock"
v = Vmm(vmm, ["--fresh", "--monitor", sock, "--cmdline", "init=ledger:threads=2"] + base + [guest])
try:
    v.wait_for("ledger ok records=0", timeout=60)
    m = Monitor(sock)
    r = m.cmd("checkpoint")
    check(r["ok"] and r["version"] >= 1, f"checkpoint: {r}")
    m.cmd("powerfail")
    code = v.wait(timeout=30)
    check(code == 99, f"vmm after powerfail exited {code}, expected 99\n{v.dump()}")
finally:
    v.kill()

# It resumes and says so.
v = Vmm(vmm, ["--monitor", sock] + base + [guest])
try:
    v.wait_for("resumed checkpoint", timeout=60, stream="err")
    m = Monitor(sock)
    m.cmd("serial ledger verify")
    v.wait_for("ledger ok", timeout=30)
    m.cmd("quit")
    check(v.wait(timeout=30) == 0, "quit after resume")
finally:
    v.kill()

# Different memory size or vCPU count than the checkpoint: refused, untouched.
refused(["--nvm", nvm, "--memory", "32M", guest], "MiB", "smaller memory")
refused(base + ["--vcpus", "2", guest], "vCPU", "different vCPU count")

# Corruptions: each refused, file untouched.
pristine = open(nvm, "rb").read()
for label, offset, expect in (("magic", 0, "not a hypersls NVM file"), ("superblock byte", 20, "bad checksum")):
    data = bytearray(pristine)
    data[offset] ^= 0xff
    open(nvm, "wb").write(data)
    refused(base + [guest], expect, label)
# A half-written format: blank superblock.
data = bytearray(pristine)
data[0:4096] = b"\0" * 4096
open(nvm, "wb").write(data)
refused(base + [guest], "never finished", "blank superblock")
# The committed checkpoint's journal record torn.
data = bytearray(pristine)
version = int.from_bytes(pristine[4096:4104], "little")
rec = 2 * 4096 + (version % 64) * 256
data[rec + 40] ^= 0x55
open(nvm, "wb").write(data)
refused(base + [guest], "journal record", "torn journal record")
# A foreign file of the right size.
open(nvm, "wb").write(os.urandom(4096) + pristine[4096:])
refused(base + [guest], "not a hypersls NVM file", "foreign file")

# --fresh starts over.
code, out, err = run_vmm(vmm, base + ["--fresh", "--cmdline", "selftest", guest], timeout=120)
check(code == 0 and "formatted" in err, f"--fresh did not start over: {code}\n{err}")
os.unlink(nvm)
print("ok: corrupt, foreign and mismatching NVM files refused untouched; resume reported; --fresh starts over")
