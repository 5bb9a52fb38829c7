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


ZERO_PAGE = bytes(4096)


def digest():
    """The file's content: its size and each page that is not all zeros, with its offset. The NVM file
    is sparse (most of its ~200 MB are holes, and reading them costs ~1.5 s a time here), so only its
    data extents are read (SEEK_DATA/SEEK_HOLE). A zero page counts as a hole: this kernel (6.18)
    turns zero-filled tmpfs pages into holes on its own, seconds after they were written, so where
    the data lies is not part of what a refused start must leave alone; any byte it changed is."""
    h = hashlib.sha256()
    with open(nvm, "rb") as f:
        fd, end, pos = f.fileno(), os.fstat(f.fileno()).st_size, 0
        h.update(end.to_bytes(8, "little"))
        while pos < end:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            stop = os.lseek(fd, start, os.SEEK_HOLE)
            data = os.pread(fd, stop - start, start)
            for at in range(0, len(data), 4096):
                page = data[at:at + 4096]
                if page != ZERO_PAGE[:len(page)]:
                    h.update((start + at).to_bytes(8, "little") + page)
            pos = stop
    return h.hexdigest()


def patched(offset, data):
    """Writes data at offset in the NVM file and returns what was there (to put it back)."""
    with open(nvm, "r+b") as f:
        old = os.pread(f.fileno(), len(data), offset)
        os.pwrite(f.fileno(), data, offset)
    return old


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



# Corruptions, each written in place and put back after: each refused, file untouched.
def corrupted(offset, data, expect, label):
    old = patched(offset, data)
    refused(base + [guest], expect, label)
    patched(offset, old)


with open(nvm, "rb") as f:
    head = f.read(2 * 4096 + 64 * 256)  # the superblock and the journal's records
corrupted(0, bytes([head[0] ^ 0xff]), "not a hypersls NVM file", "magic")
corrupted(20, bytes([head[20] ^ 0xff]), "bad checksum", "superblock byte")
# A half-written format: blank superblock.
corrupted(0, b"\0" * 4096, "never finished", "blank superblock")
# The committed checkpoint's journal record torn.
version = int.from_bytes(head[4096:4104], "little")
rec = 2 * 4096 + (version % 64) * 256
corrupted(rec + 40, bytes([head[rec + 40] ^ 0x55]), "journal record", "torn journal record")
# A foreign file of the right size.
corrupted(0, os.urandom(4096), "not a hypersls NVM file", "foreign file")

# --fresh starts over.
code, out, err = run_vmm(vmm, base + ["--fresh", "--cmdline", "selftest", guest], timeout=120)
check(code == 0 and "formatted" in err, f"--fresh did not start over: {code}\n{err}")
os.unlink(nvm)
print("ok: corrupt, foreign and mismatching NVM files refused untouched; resume reported; --fresh starts over")
