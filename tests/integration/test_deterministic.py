"""The deterministic machine (issue 16): a run is a function of image, config
and seed. Two runs with one seed, 1 and 2 vCPUs, give byte-identical serial
output and identical commit logs (version, block count, guest time, memory
and state digests at every commit, --verify's oracle); another seed gives
another run. A power failure aimed at a block count, followed by the
in-process recovery, replays exactly too. The built-in network peer (kvd's
SET stream) replays exactly, and monitor commands that stop the vCPUs
(pause, resume, info vcpus, x/i) do not change the run. KVM is refused in
one line.
Runs on the software CPU only (no -kvm leg: deterministic mode is tcg's).

argv: VMM GUEST"""
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Monitor, check, tmpdir  # noqa: E402

vmm, guest = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
d = tmpdir()
CMDLINE = "init=memstress:pages=400,rate=20000,hot=10,hotpct=90,threads=1;ledger:threads=2,rate=5000"


def run(tag, seed, vcpus, blocks, extra=(), interval="2", cmdline=CMDLINE):
    """One deterministic run to `blocks` blocks; returns (serial bytes, commit log lines, stderr)."""
    nvm = f"/dev/shm/hsls-det-{os.getpid()}-{tag}.nvm"
    serial = os.path.join(d, f"{tag}.serial")
    commits = os.path.join(d, f"{tag}.commits")
    args = [vmm, "run", guest, "--accel", "tcg", "--deterministic=" + str(seed), "--vcpus", str(vcpus), "--memory", "64M",
            "--nvm", nvm, "--fresh", "--verify", "--no-console", "--serial-log", serial, "--commit-log", commits,
            "--ckpt-interval", interval, "--cmdline", cmdline, "--stop-at-block", str(blocks), *extra]
    try:
        p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    finally:
        for f in (nvm, nvm + ".digests"):
            if os.path.exists(f):
                os.unlink(f)
    check(p.returncode == 0, f"{tag}: vmm exited {p.returncode}\n{p.stderr[-3000:]}")
    with open(serial, "rb") as f:
        out = f.read()
    with open(commits) as f:
        lines = f.read().splitlines()
    return out, lines, p.stderr


for vcpus in (1, 2):
    blocks = 6_000_000
    a_out, a_commits, _ = run(f"a{vcpus}", 7, vcpus, blocks)
    b_out, b_commits, _ = run(f"b{vcpus}", 7, vcpus, blocks)
    check(len(a_commits) >= 5, f"{vcpus} vCPU(s): only {len(a_commits)} commits in {blocks} blocks")
    check(b"ledger ok" in a_out, f"{vcpus} vCPU(s): the ledger never reported:\n{a_out[-2000:]!r}")
    check(a_out == b_out, f"{vcpus} vCPU(s): serial output differs between two runs with one seed")
    check(a_commits == b_commits, f"{vcpus} vCPU(s): commit logs differ between two runs with one seed:\n" +
          "\n".join(f"  {x}\n  {y}" for x, y in zip(a_commits, b_commits) if x != y))
    c_out, c_commits, _ = run(f"c{vcpus}", 8, vcpus, blocks)
    check(c_commits != a_commits, f"{vcpus} vCPU(s): seed 8 gave the same commits as seed 7")
    print(f"{vcpus} vCPU(s): {len(a_commits)} commits, {len(a_out)} serial bytes identical for seed 7; seed 8 differs")
    seed7 = (a_out, a_commits)

# Inputs that change nothing (empty serial input, replayed at 60 blocks)
# leave the run as it was. Each stops the engine at its block: a stop must
# not shift the block count (a block stopped at its hook once counted twice,
# and a replayed input landed a block late, where the recording had a hlt).
rng = random.Random(1)
noop_log = os.path.join(d, "noop.inputs")
with open(noop_log, "w") as f:
    f.writelines(f"0 {b} 0 serial -\n" for b in sorted(rng.sample(range(500_000, 5_500_000), 60)))
n_out, n_commits, _ = run("noop", 7, 2, 6_000_000, ("--replay-input", noop_log))
check((n_out, n_commits) == seed7, "60 empty inputs changed the run:\n" +
      "\n".join(f"  {x}\n  {y}" for x, y in zip(seed7[1], n_commits) if x != y)[:1500])
print(f"60 replayed empty inputs: {len(n_commits)} commits identical to the run without them")

# A power failure at a block, the in-process recovery, and the run on: identical twice.
blocks = 8_000_000
extra = ("--powerfail-at-block", "3333333", "--power-restart")
a_out, a_commits, a_err = run("pa", 3, 2, blocks, extra)
b_out, b_commits, _ = run("pb", 3, 2, blocks, extra)
check("power failure: at block 3333333" in a_err, f"the power failure did not strike:\n{a_err[-3000:]}")
check("resumed" in a_err or "recovered" in a_err, f"no recovery after the power failure:\n{a_err[-3000:]}")
check(a_out == b_out, "after a power failure at a block: serial output differs between two runs")
check(a_commits == b_commits, "after a power failure at a block: commit logs differ between two runs")
check(len(a_commits) >= 3, f"only {len(a_commits)} commits around the power failure")
print(f"power failure at block 3333333 + recovery: {len(a_commits)} commits identical twice")

# Regression (found by vmm crashtest): power fails before the first
# checkpoint commits; the restart boots the image again over the RAM the
# first boot left, and the guest's init died of a #PF. A boot with nothing
# to resume must start from zeroed RAM and no backup tags.
early = run("early", 3, 1, 3_000_000, ("--powerfail-at-block", "40000", "--power-restart"), interval="50",
            cmdline="init=ledger:threads=2,rate=20000,verify=0")[0]
check(early.count(b"hypersls guest:") == 2, f"early power failure: the guest did not boot twice:\n{early.decode(errors='replace')}")
check(b"fault:" not in early and early.count(b"ledger ok") == 2,
      f"early power failure: the second boot went wrong:\n{early.decode(errors='replace')}")
print("power failure before the first commit: the second boot is clean")

# An interactive session (serial input and a power failure from the monitor,
# at host-timed moments) recorded with --record-input replays exactly with
# --replay-input: the same serial output and commits.
log = os.path.join(d, "inputs.log")
sock = os.path.join(d, "mon.sock")
nvm = f"/dev/shm/hsls-det-{os.getpid()}-rec.nvm"
common = [vmm, "run", guest, "--accel", "tcg", "--vcpus", "2", "--memory", "64M", "--verify", "--no-console",
          "--ckpt-interval", "2", "--cmdline", CMDLINE, "--power-restart", "--nvm", nvm, "--fresh",
          "--stop-at-block", "40000000"]
try:
    rec = subprocess.Popen(common + ["--deterministic=9", "--monitor", sock, "--record-input", log,
                                     "--serial-log", f"{d}/rec.serial", "--commit-log", f"{d}/rec.commits"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = Monitor(sock, timeout=30)
    import time
    # Many inputs at random moments, so that some land where a vCPU idles
    # (a replayed input once stopped the run one block early there).
    BEFORE, AFTER = 8, 4
    time.sleep(0.3)
    for _ in range(BEFORE):
        check(m.cmd("serial ledger verify")["ok"], "serial ledger verify refused")
        time.sleep(random.uniform(0.01, 0.06))
    check(m.cmd("powerfail")["ok"], "powerfail refused")
    time.sleep(0.5)
    m2 = Monitor(sock, timeout=30)
    for _ in range(AFTER):
        check(m2.cmd("serial ledger verify")["ok"], "serial ledger verify (after the restart) refused")
        time.sleep(random.uniform(0.01, 0.06))
    _, rec_err = rec.communicate(timeout=120)
    check(rec.returncode == 0, f"recording run exited {rec.returncode}\n{rec_err[-3000:]}")
    with open(log) as f:
        entries = f.read().splitlines()
    kinds = ["serial"] * BEFORE + ["powerfail"] + ["serial"] * AFTER
    check([e.split()[3] for e in entries] == kinds, f"the input log holds {entries}")
    rep = subprocess.run(common + ["--deterministic=9", "--replay-input", log, "--serial-log", f"{d}/rep.serial",
                                   "--commit-log", f"{d}/rep.commits"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    check(rep.returncode == 0, f"replay run exited {rep.returncode}\n{rep.stderr[-3000:]}")
finally:
    for f in (nvm, nvm + ".digests"):
        if os.path.exists(f):
            os.unlink(f)
with open(f"{d}/rec.serial", "rb") as f:
    rec_out = f.read()
with open(f"{d}/rep.serial", "rb") as f:
    rep_out = f.read()
check(rec_out.count(b"(asked)") >= AFTER + 1, f"the recorded session's 'ledger verify' were not answered:\n{rec_out[-2000:]!r}")
check(rec_out == rep_out, f"replayed serial output differs:\n{rec_out[-1500:]!r}\n---\n{rep_out[-1500:]!r}")
with open(f"{d}/rec.commits") as f, open(f"{d}/rep.commits") as g:
    rec_commits, rep_commits = f.read().splitlines(), g.read().splitlines()
    check(rec_commits == rep_commits, "replayed commit log differs:\n" +
          "\n".join(f"  {x}\n  {y}" for x, y in zip(rec_commits, rep_commits) if x != y)[:1500])
print(f"recorded session ({len(entries)} inputs, a power failure among them) replayed exactly")

# The network (kvd and the built-in peer) replays exactly, and the monitor's
# stops (pause/resume, info vcpus, x/i, at host-timed moments) change nothing:
# a stop asked by another thread is taken at the next point fixed in guest work.
NET = "init=kvd;ledger:threads=2,rate=5000"
quiet_out, quiet_commits, _ = run("net-quiet", 5, 2, 12_000_000, ("--net-peer", "kv"), cmdline=NET)
sock = os.path.join(d, "poke.sock")
nvm = f"/dev/shm/hsls-det-{os.getpid()}-poke.nvm"
args = [vmm, "run", guest, "--accel", "tcg", "--deterministic=5", "--vcpus", "2", "--memory", "64M", "--nvm", nvm,
        "--fresh", "--verify", "--no-console", "--serial-log", f"{d}/poke.serial", "--commit-log", f"{d}/poke.commits",
        "--ckpt-interval", "2", "--cmdline", NET, "--stop-at-block", "12000000", "--net-peer", "kv", "--monitor", sock]
try:
    poked = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = Monitor(sock, timeout=30)
    stops = 0
    while poked.poll() is None and stops < 40:
        try:
            paused = m.cmd("pause").get("ok") is True
            for c in ("info vcpus", "x/i rip@0", "resume", "info vcpus", "info net"):
                m.cmd(c)
            stops += paused
        except (OSError, ValueError, EOFError):
            break  # the run ended meanwhile
    _, poked_err = poked.communicate(timeout=120)
    check(poked.returncode == 0, f"poked run exited {poked.returncode}\n{poked_err[-3000:]}")
finally:
    for f in (nvm, nvm + ".digests"):
        if os.path.exists(f):
            os.unlink(f)
check(stops >= 3, f"only {stops} rounds of monitor stops reached the run")
with open(f"{d}/poke.serial", "rb") as f:
    poked_out = f.read()
with open(f"{d}/poke.commits") as f:
    poked_commits = f.read().splitlines()
check(b"kvd: listening" in quiet_out, f"kvd did not start:\n{quiet_out[-2000:]!r}")
check(poked_out == quiet_out, f"monitor stops changed the serial output:\n{quiet_out[-1500:]!r}\n---\n{poked_out[-1500:]!r}")
check(poked_commits == quiet_commits, "monitor stops changed the commit log:\n" +
      "\n".join(f"  {x}\n  {y}" for x, y in zip(quiet_commits, poked_commits) if x != y)[:3000])
print(f"network peer + {stops} rounds of pause/info vcpus/x/i/resume: {len(quiet_commits)} commits identical to a quiet run")

# KVM cannot run deterministically: one line, nothing created.
p = subprocess.run([vmm, "run", guest, "--accel", "kvm", "--deterministic", "--nvm", f"{d}/never.nvm"],
                   stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
check(p.returncode == 1 and "deterministic" in p.stderr and len(p.stderr.strip().splitlines()) == 1,
      f"--accel kvm --deterministic: want one line and exit 1, got {p.returncode}: {p.stderr}")
check(not os.path.exists(f"{d}/never.nvm"), "a refused start created the NVM file")
print("ok")
