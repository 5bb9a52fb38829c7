"""Refused starts: one-line error naming what is wrong, exit 1, and nothing
created or overwritten."""
import os
import subprocess
import sys

from harness import Vmm, check, pvh_elf, require_accel, run_vmm, tmpdir

require_accel()
vmm, guest = sys.argv[1], sys.argv[2]
d = tmpdir()
nvm = f"{d}/nvm"


def refused(args, expect, label):
    code, out, err = run_vmm(vmm, args, timeout=60)
    lines = [l for l in err.splitlines() if l.strip()]
    check(code == 1, f"{label}: exit {code}, expected 1\n{err}")
    check(len(lines) == 1 and lines[0].startswith("vmm: error: "), f"{label}: not one error line:\n{err}")
    check(expect in lines[0], f"{label}: error does not say {expect!r}: {lines[0]}")
    return lines[0]


def no_nvm(label):
    check(not os.path.exists(nvm), f"{label}: a refused start created {nvm}")


base = ["--nvm", nvm, "--memory", "64M"]
refused(base + [f"{d}/missing.img"], "cannot be opened", "missing image"); no_nvm("missing image")
os.mkdir(f"{d}/dir.img")
refused(base + [f"{d}/dir.img"], "is a directory", "directory as image"); no_nvm("directory as image")
open(f"{d}/junk.img", "wb").write(b"this is not an ELF file at all" * 4)
refused(base + [f"{d}/junk.img"], "not an ELF file", "junk image"); no_nvm("junk image")
open(f"{d}/high.img", "wb").write(pvh_elf(b"\xf4", load=0x7f00000))
refused(base + [f"{d}/high.img"], "outside guest memory", "segment outside RAM"); no_nvm("segment outside RAM")
open(f"{d}/boot.img", "wb").write(pvh_elf(b"\xf4", load=0x5000))
refused(base + [f"{d}/boot.img"], "boot area", "segment over boot area"); no_nvm("segment over boot area")
refused(["--nvm", nvm, "--memory", "5M", guest], "machine.memory", "memory too small"); no_nvm("memory")
refused(["--nvm", nvm, "--vcpus", "9", guest], "machine.vcpus", "too many vCPUs"); no_nvm("vcpus")
refused(["--nvm", nvm, "--accel", "hvf", guest], "machine.accel", "unknown accelerator"); no_nvm("accel")
refused(["--nvm", nvm, "--log-level", "loud", guest], "log.level", "bad log level"); no_nvm("log level")
refused(["--nvm", nvm, "--accel", "tcg", "--deterministic=0x1g", guest], "--deterministic: '0x1g' is not a seed",
        "bad seed"); no_nvm("seed")
cfg = f"{d}/bad.toml"
open(cfg, "w").write("[machine]\nvcpus = 3\nflavour = 'x'\n")
refused(["--config", cfg, "--nvm", nvm, guest], "machine.flavour", "unknown config key"); no_nvm("unknown key")
open(cfg, "w").write("[machine]\nmemory = 'lots'\n")
refused(["--config", cfg, "--nvm", nvm, guest], "machine.memory", "bad memory value"); no_nvm("bad memory value")
open(cfg, "w").write("[machine\n")
refused(["--config", cfg, "--nvm", nvm, guest], "bad.toml", "broken TOML"); no_nvm("broken TOML")

# An NVM file too small for the guest is refused and left as it was.
open(nvm, "wb").write(b"\xab" * 4096)
refused(base + [guest], "too small", "small NVM file")
check(open(nvm, "rb").read() == b"\xab" * 4096, "a refused start changed the small NVM file")
os.unlink(nvm)

# An NVM file in use by a running vmm is refused; the running one goes on.
sock = f"{d}/mon.sock"
first = Vmm(vmm, ["--fresh", "--monitor", sock] + base + [guest])
try:
    first.wait_for("hypersls guest:", timeout=60)
    refused(["--fresh"] + base + [guest], "in use by another running vmm", "locked NVM")
    check(first.proc.poll() is None, "the first vmm died when a second one tried its NVM file")
    # A second vmm must not take over a live monitor socket either.
    refused(["--monitor", sock, "--nvm", f"{d}/other", "--memory", "64M", guest], "in use", "live monitor socket")
    check(not os.path.exists(f"{d}/other"), "refused start (monitor socket) left an NVM file")
finally:
    first.proc.terminate()
    first.wait(timeout=30)
os.unlink(nvm)

# No /dev/kvm, and no permission on it.
if subprocess.run(["which", "unshare"], capture_output=True).returncode == 0:
    p = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs none /dev && exec {vmm} run --accel kvm --nvm {nvm} {guest}"],
                       capture_output=True, text=True)
    check(p.returncode == 1 and "/dev/kvm does not exist" in p.stderr, f"no /dev/kvm: {p.returncode} {p.stderr}")
    no_nvm("no /dev/kvm")
if os.geteuid() == 0 and subprocess.run(["which", "setpriv"], capture_output=True).returncode == 0 \
        and os.path.exists("/dev/kvm") and not (os.stat("/dev/kvm").st_mode & 0o006):
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", vmm, "run", "--accel", "kvm", "--nvm", nvm, guest],
                       capture_output=True, text=True)
    check(p.returncode == 1 and "permission denied" in p.stderr, f"no permission: {p.returncode} {p.stderr}")
    no_nvm("no permission")
print("ok: every refused start gave one line, exit 1, and left nothing behind")
