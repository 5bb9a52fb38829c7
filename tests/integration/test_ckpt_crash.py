"""Power failures at random moments, at every named crash point of the
checkpoint protocol, and by SIGKILL: each recovery must restore exactly the
last committed checkpoint (the --verify digest oracle checks every page and
the saved state), and the guest must keep making progress afterwards.

argv: VMM GUEST POLICY[@DIRTY_LOG][+nocopier][+uffd] VCPUS TRIALS [CMDLINE]"""
import os
import random
import signal
import subprocess
import sys
import time

from harness import ACCEL, Monitor, Vmm, check, fail, require_accel, tmpdir

require_accel()
vmm, guest, policy, vcpus, trials = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
policy, *extras = policy.split("+")  # e.g. hybrid+nocopier: without the pause copier (on by default);
# cow+uffd: copy-on-write by userfaultfd even where the VMM's write guard could do it
copier = "nocopier" not in extras
policy, _, dirty_log = policy.partition("@")  # e.g. hybrid@ring: the other dirty-log form than the default
cmdline = sys.argv[6] if len(sys.argv) > 6 else os.environ.get("HSLS_CRASH_CMDLINE", "")
ledger = "ledger" in cmdline
rng = random.Random(int(os.environ.get("HSLS_SEED", "1")))
d = tmpdir()
nvm = f"{d}/nvm"
sock = f"{d}/mon.sock"
POINTS = ["stopped", "state-saved", "backup-copied", "backup-tagged", "protected", "journal-written", "committed",
          "cow-copied", "cow-tagged"]
common = ["--nvm", nvm, "--memory", "128M", "--vcpus", vcpus, "--ckpt-policy", policy, "--ckpt-interval", "5",
          "--verify", "--cmdline", cmdline, guest] + (["--dirty-log", dirty_log] if dirty_log else []) + \
    ([] if copier else ["--copier", "false"]) + (["--write-protect", "userfaultfd"] if "uffd" in extras else [])


def recovered(m, v, label):
    """Waits for the recovery event; it must say the digests matched."""
    try:
        ev = m.wait_event("recovered", timeout=60)
    except (EOFError, OSError) as e:
        time.sleep(0.5)
        fail(f"{label}: monitor lost while waiting for recovery ({e}); vmm exit status {v.proc.poll()}\n{v.dump()}")
    check(ev.get("verified") is True, f"{label}: recovery not verified: {ev}\n{v.dump()}")
    m.events.remove(ev)
    return ev


def ready(m, line):
    """Runs a command, retrying while the machine is still powering on."""
    for _ in range(200):
        r = m.cmd(line)
        if r.get("ok") or "powered off" not in r.get("error", ""):
            return r
        time.sleep(0.02)
    return r


def progress(m, label, v):
    """The machine keeps checkpointing and its vCPUs keep running."""
    a = ready(m, "info ckpt")
    r1 = [c["rip"] for c in m.cmd("info vcpus")["vcpus"]]
    time.sleep(0.1)
    b = m.cmd("info ckpt")
    check(a["ok"] and b["ok"] and b["committed_version"] > a["committed_version"],
          f"{label}: no checkpoint committed after recovery: {a.get('committed_version')} -> {b.get('committed_version')}; "
          f"vCPUs at {r1}, then {[c['rip'] for c in m.cmd('info vcpus')['vcpus']]}\n{v.dump()[-6000:]}")
    if ledger:
        m.cmd("serial ledger verify")


# 1. In-process power failures (restart) at random moments and at every crash point.
v = Vmm(vmm, ["--fresh", "--power-restart", "--monitor", sock] + common)
try:
    m = Monitor(sock, timeout=60)
    time.sleep(0.3)
    spare = len(os.sched_getaffinity(0)) > int(vcpus)
    info = ready(m, "info ckpt")
    # Copy-on-write: the VMM's write guard where every store passes it (the software CPU's TLB-fill log),
    # else userfaultfd.
    guard = ACCEL != "kvm" and "uffd" not in extras and dirty_log != "store"
    wp = "write-guard" if guard else "userfaultfd"
    check(info.get("write_protect") == wp, f"info ckpt says write_protect={info.get('write_protect')}, expected {wp}")
    # With one vCPU, a CPU to spare and userfaultfd the pause copier runs unless turned off (the interval,
    # 5 ms, lets it act; with the write guard there is no slow protect for it to overlap).
    want = copier and spare and vcpus == "1" and not guard
    check((info.get("copier") is not None) is want, f"info ckpt says copier={info.get('copier')} ({vcpus} vCPU(s))")
    # A power failure before the first commit boots afresh instead of recovering: on a loaded host
    # the first checkpoint can come late, so wait for it.
    deadline = time.monotonic() + 30
    while info.get("committed_version", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        info = ready(m, "info ckpt")
    check(info.get("committed_version", 0) >= 1, f"no checkpoint committed within 30 s: {info}\n{v.dump()[-3000:]}")
    if policy == "precopy":
        # The power failures below must meet precopies: this workload's pay, so the pacer takes them.
        time.sleep(0.3)
        info = ready(m, "info ckpt")
        check(info.get("precopies", 0) > 0, f"no precopy taken in 0.3 s: {info}")
    if policy == "hybrid":
        # The pause copies only the hot pages the epoch wrote: an unwritten hot page's newer backup
        # (in either slot) holds its content already and is only tagged again. (Under KVM, hot pages
        # on a lease are reported written in every epoch, so there may be none to re-tag.)
        time.sleep(0.5)
        s = ready(m, "info ckpt").get("summary", {})
        copied, dirty, retagged = (s.get(k, {}).get("p50") for k in ("pages_copied", "pages_dirty", "pages_retagged"))
        check(None not in (copied, dirty, retagged) and copied <= dirty and (retagged > 0 or ACCEL == "kvm"),
              f"hybrid: pages copied {copied}, dirty {dirty}, re-tagged {retagged} (p50): {s}")
    for i in range(trials):
        time.sleep(rng.uniform(0.002, 0.05))
        r = m.cmd("powerfail")
        check(r["ok"], f"powerfail: {r}")
        ev = recovered(m, v, f"random trial {i}")
        if i % 10 == 0:
            progress(m, f"random trial {i}", v)
    for point in POINTS:
        nth = rng.randint(1, 3)
        r = m.cmd(f"powerfail at={point}#{nth}")
        check(r["ok"], f"arm {point}: {r}")
        ev = recovered(m, v, f"crash point {point}#{nth}")
        progress(m, f"crash point {point}", v)
    # A failure during recovery itself.
    r = m.cmd("powerfail at=restored#1")
    check(r["ok"], f"arm restored: {r}")
    recovered(m, v, "power failure during recovery")
    progress(m, "after a failure during recovery", v)
    if want:
        # The copier killed: checkpoints go on without it, the next power failure still recovers
        # exactly, and the machine that comes back has a new one.
        pid = m.cmd("info ckpt").get("copier")
        check(isinstance(pid, int), f"no pause copier after the recoveries: copier={pid}")
        os.kill(pid, signal.SIGKILL)
        progress(m, "after killing the pause copier", v)
        check(m.cmd("info ckpt").get("copier") is None, "info ckpt still names the killed copier")
        check(m.cmd("powerfail")["ok"], "powerfail after killing the copier")
        recovered(m, v, "power failure after killing the copier")
        progress(m, "after killing the copier and a power failure", v)
        check(isinstance(m.cmd("info ckpt").get("copier"), int), "no pause copier after the restart")
    check(m.cmd("quit")["ok"], "quit")
    code = v.wait(timeout=60)
    check(code == 0, f"vmm exited {code}\n{v.dump()[-6000:]}")
    if ledger:
        check("ledger CORRUPT" not in v.stdout(), "ledger found corruption\n" + v.dump())
finally:
    v.kill()

# 2. SIGKILL at random moments; a new vmm recovers and verifies.
kills = max(3, trials // 10)
def children(pid):
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile (the RAM prefault's, say) has no children
    return out


def running(pid):
    """Alive and not a zombie (an orphan's zombie may wait for a reaper that never comes)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


for i in range(kills):
    v = Vmm(vmm, common)
    try:
        time.sleep(rng.uniform(0.05, 0.4))
        kids = children(v.proc.pid)  # the pause copier, if one runs: it must die with the vmm
        v.proc.send_signal(signal.SIGKILL)
        v.wait(timeout=30)
        deadline = time.time() + 5
        while any(running(k) for k in kids) and time.time() < deadline:
            time.sleep(0.01)
        check(not any(running(k) for k in kids), f"SIGKILL {i}: the vmm's child process {kids} outlived it")
    finally:
        v.kill()
    v = Vmm(vmm, ["--monitor", sock] + common)
    try:
        v.wait_for("digests verified", timeout=60, stream="err")
        m = Monitor(sock, timeout=30)
        progress(m, f"after SIGKILL {i}", v)
        m.cmd("quit")
        check(v.wait(timeout=60) == 0, f"vmm after SIGKILL {i} did not quit cleanly\n{v.dump()}")
    finally:
        v.kill()

for f in (nvm, nvm + ".digests"):
    if os.path.exists(f):
        os.unlink(f)
print(f"ok: {policy}, {vcpus} vCPU(s): {trials} random power failures, {len(POINTS) + 1} crash points, "
      f"{kills} SIGKILLs, every recovery verified")
