"""Who leads a checkpoint's pause, as `info ckpt` reports it. On the
software CPU, whose vCPUs take turns on one engine, the VM keeps the epoch's
deadline: the vCPU running guest code at that moment leads, and the others
are held where they sleep (no thread woken for them). Here vCPU 1 spins
(`clock:cpu=1`) and vCPU 0 sits idle, so vCPU 1 leads nearly every pause
and holds vCPU 0. On KVM the epoch timer signals vCPU 0, which always leads.
Then `set ckpt-policy precopy` at run time: precopies start (the fault
thread notices the switch by itself, also where no fault ever wakes it).
Argv: VMM GUEST."""
import sys
import time

from harness import ACCEL, Monitor, Vmm, check, require_accel, tmpdir

require_accel()
vmm, guest = sys.argv[1], sys.argv[2]
d = tmpdir()
sock = f"{d}/mon.sock"
v = Vmm(vmm, ["--fresh", "--nvm", f"{d}/nvm", "--memory", "64M", "--vcpus", "2", "--ckpt-interval", "5",
              "--monitor", sock, "--cmdline", "init=clock:cpu=1", guest])
try:
    v.wait_for("clock: started", timeout=60)
    m = Monitor(sock)
    time.sleep(0.3)
    before = m.cmd("info ckpt")
    time.sleep(1.5)
    info = m.cmd("info ckpt")
    check(info["ok"] and info["committed_version"] > before["committed_version"] + 20,
          f"too few checkpoints in 1.5 s: {before.get('committed_version')} -> {info.get('committed_version')}")
    s = info["summary"]
    leaders = s["leaders"]
    count = s["count"]
    check(sum(leaders.values()) == count, f"leaders {leaders} do not add up to {count} checkpoints")
    check(set(leaders) <= {"0", "1"}, f"leaders name vCPUs the machine does not have: {leaders}")
    last = info["last"]
    check(last["leader"] in (0, 1) and last["vcpus_held"] in (0, 1), f"last checkpoint: {last}")
    if ACCEL == "kvm":
        check(leaders == {"0": count}, f"KVM: vCPU 0 leads every pause, but leaders are {leaders}")
    else:
        # vCPU 1 runs guest code nearly all the time; vCPU 0 is halted.
        check(leaders.get("1", 0) >= count // 2, f"tcg: the running vCPU 1 led only {leaders.get('1', 0)} of {count}: {leaders}")
        check(s["vcpus_held"]["p50"] == 1, f"tcg: the idle vCPU was not held in most pauses: {s['vcpus_held']}")
    check("precopies" not in info, f"precopy counters shown for {info['policy']}")
    r = m.cmd("set ckpt-policy precopy")
    check(r["ok"], f"set ckpt-policy precopy: {r}")
    deadline = time.monotonic() + 5
    pre = m.cmd("info ckpt")
    while pre.get("precopies", 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
        pre = m.cmd("info ckpt")
    check(pre["policy"] == "precopy" and pre.get("precopies", 0) > 0,
          f"no precopy within 5 s of switching to precopy: {pre.get('policy')}, {pre.get('precopies')}")
    print(f"ok: leaders {leaders}, vCPUs held p50 {s['vcpus_held']['p50']}, pause p50 {s['pause_us']['p50']:.1f} us; "
          f"after the switch to precopy: {pre['precopies']} precopies")
finally:
    v.kill()
