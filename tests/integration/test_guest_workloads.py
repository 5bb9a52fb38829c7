"""Runs the guest workloads on 2 vCPUs for a few seconds: memstress at a
target rate, ledger with 2 appending threads, clock. Checks the periodic
reports (memstress writes/s near the target, ledger ok), asks for figures
over the serial console through the monitor (`serial ledger verify`,
`serial memstress report`, `serial clock report`), and that init powers off
with code 0 after init.poweroff=after:N. Argv: VMM GUEST."""
import re
import sys
import time

from harness import Monitor, Vmm, check, fail, require_accel, tmpdir

require_accel()
vmm, guest = sys.argv[1], sys.argv[2]
d = tmpdir()
sock = f"{d}/mon.sock"
RATE, PAGES = 20000, 1000
cmdline = (f"init=memstress:pages={PAGES},rate={RATE},hot=10,hotpct=90,threads=1;ledger:threads=2,verify=1000;clock "
           "init.poweroff=after:9")
# Checkpoints off: this checks the workloads' own pacing; what checkpoints
# cost them is the benchmark's business (tools/bench).
v = Vmm(vmm, ["--fresh", "--no-ckpt", "--nvm", f"{d}/nvm", "--memory", "256M", "--vcpus", "2", "--monitor", sock,
              "--cmdline", cmdline, guest])
try:
    v.wait_for("hypersls guest: cpus=2", timeout=60)
    v.wait_for("ledger ok records=0", timeout=30)
    v.wait_for("memstress: started", timeout=30)
    m = Monitor(sock)
    time.sleep(4)
    for line in ("ledger verify", "memstress report", "clock report"):
        r = m.cmd("serial " + line)
        check(r.get("ok") is True, f"serial {line}: {r}")
        time.sleep(0.5)
    v.wait_for("(asked)", timeout=20)
    v.wait_for("clock: max_gap_us=", timeout=20)
    code = v.wait(timeout=60)
    out = v.stdout()
    dump = v.dump()

    check("CORRUPT" not in out, "ledger reported corruption\n" + dump)
    check("fault:" not in out, "a program was killed by a fault\n" + dump)
    check(code == 0, f"exit code {code}, expected 0 (init.poweroff=after:9)\n" + dump)
    check("init: powering off after 9 s" in out, "init did not announce the power-off\n" + dump)

    rates = [int(x) for x in re.findall(rf"^memstress: writes/s=(\d+) pages={PAGES}\b", out, re.M)]
    check(len(rates) >= 4, f"only {len(rates)} memstress reports in ~8 s\n" + dump)
    # The first period includes start-up; the rest must be within 10% of the target.
    steady = rates[1:]
    bad = [r for r in steady if not 0.9 * RATE <= r <= 1.1 * RATE]
    check(len(bad) <= 1, f"memstress writes/s {rates} not within 10% of {RATE}\n" + dump)

    oks = [int(x) for x in re.findall(r"^ledger ok records=(\d+)", out, re.M)]
    check(len(oks) >= 4, f"only {len(oks)} ledger verifications\n" + dump)
    check(oks == sorted(oks) and oks[-1] > 5000, f"ledger records do not grow as expected: {oks}\n" + dump)
    check(re.search(r"^ledger ok records=\d+ folds=\d+ \(asked\)$", out, re.M), "no answer to 'ledger verify'\n" + dump)
    check(re.search(r"^clock: max_gap_us=\d+ gaps>100us=\d+ samples=[1-9]\d*", out, re.M),
          "clock report malformed\n" + dump)
    for name in ("memstress", "ledger", "clock"):
        check(f"init: {name} exited" not in out, f"{name} exited before the power-off\n" + dump)
    print(f"ok: memstress writes/s {rates}, ledger records {oks[-1]}")
finally:
    v.kill()
