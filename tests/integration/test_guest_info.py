"""The guest's object-tree descriptor and the monitor's `info guest`.

First reads the descriptor the guest kernel publishes at guest-physical
0x7000 (guest/abi/descriptor.h, docs/guest-descriptor.md) with the monitor's
`x` command and checks it. Then checks `info guest`, whose reply is expected
to look like
  {"ok":true,"processes":[{"pid":..,"name":"ledger","threads":..,"pages":..,
   "caps":..,"state":".."}],"counts":{"capgroup":..,"thread":..,"vmspace":..,
   "pmo":..,"connection":..,"notification":..,"irqnotification":..},
   "pages_free":..,"pages_total":..}
(the VMM side of `info guest` is implemented separately). Argv: VMM GUEST."""
import struct
import sys
import time

from harness import Monitor, Vmm, check, require_accel, tmpdir

require_accel()
vmm, guest = sys.argv[1], sys.argv[2]
d = tmpdir()
sock = f"{d}/mon.sock"
cmdline = "init=memstress:pages=300,rate=5000;ledger:threads=2;clock"
v = Vmm(vmm, ["--fresh", "--nvm", f"{d}/nvm", "--memory", "256M", "--vcpus", "2", "--monitor", sock,
              "--cmdline", cmdline, guest])
KINDS = ["capgroup", "thread", "vmspace", "pmo", "connection", "notification", "irqnotification"]
try:
    v.wait_for("ledger ok records=0", timeout=60)
    v.wait_for("memstress: writes/s=", timeout=30)
    m = Monitor(sock)

    # --- the raw descriptor (seqlock: retry while odd or changed) ---
    for _ in range(50):
        r = m.cmd("x 0x7000 2808")
        check(r.get("ok"), f"x 0x7000: {r}")
        b = bytes.fromhex(r["bytes"])
        seq1, = struct.unpack_from("<Q", b, 16)
        seq2, = struct.unpack_from("<Q", bytes.fromhex(m.cmd("x 0x7010 8")["bytes"]), 0)
        if seq1 % 2 == 0 and seq1 == seq2:
            break
        time.sleep(0.01)
    magic, version, size, seq, root_k, root_p, phys_base, tsc_hz = struct.unpack_from("<8sIIQQQQQ", b, 0)
    counts = dict(zip(KINDS, struct.unpack_from("<7I", b, 56)))
    ncpus, = struct.unpack_from("<I", b, 84)
    pages_free, pages_total, kzero, nprocs = struct.unpack_from("<QQQI", b, 88)
    check(magic == b"HSLSDESC" and version == 1 and size == 2808, f"bad header {magic} {version} {size}")
    check(seq % 2 == 0, f"seqlock odd ({seq}) after retries")
    check(root_k == phys_base + root_p and root_p != 0, f"root CapGroup 0x{root_k:x} / 0x{root_p:x}")
    check(ncpus == 2 and tsc_hz > 0, f"ncpus {ncpus} tsc_hz {tsc_hz}")
    check(0 < pages_free < pages_total and pages_total > 60000, f"pages free/total {pages_free}/{pages_total}")
    procs = {}
    for i in range(nprocs):
        o = 120 + 8 * 16 + 64 * i
        pid, state, code, threads, mapped, committed, caps, ppid = struct.unpack_from("<IIiIIIII", b, o)
        name = b[o + 32:o + 48].split(b"\0")[0].decode()
        if state:
            procs[name] = dict(pid=pid, state=state, threads=threads, mapped=mapped, committed=committed, caps=caps,
                               ppid=ppid)
    check(set(procs) == {"init", "memstress", "ledger", "clock"}, f"processes {procs}")
    check(procs["init"]["pid"] == 1 and all(p["ppid"] == 1 for n, p in procs.items() if n != "init"),
          f"process tree {procs}")
    check(procs["ledger"]["threads"] == 4, f"ledger threads (2 appenders, verifier, control) {procs['ledger']}")
    check(procs["memstress"]["mapped"] >= 300 and procs["memstress"]["committed"] >= 280, f"memstress {procs}")
    check(counts["capgroup"] == 4 and counts["vmspace"] == 4 and counts["irqnotification"] == 1 and
          counts["connection"] == 3 and counts["thread"] == sum(p["threads"] for p in procs.values()),
          f"object counts {counts} vs {procs}")

    # --- info guest (VMM side) ---
    r = m.cmd("info guest")
    check(r.get("ok") is True, f"info guest failed (is it implemented in the VMM yet?): {r}")
    names = {p["name"]: p for p in r["processes"]}
    for n in ("init", "memstress", "ledger", "clock"):
        check(n in names, f"info guest lacks {n}: {r}")
        for k in ("pid", "threads", "pages", "caps", "state"):
            check(k in names[n], f"info guest: process {n} lacks {k}: {r}")
    check(names["ledger"]["threads"] == 4 and names["init"]["pid"] == 1, f"info guest processes: {r}")
    check(all(k in r["counts"] for k in KINDS) and r["counts"]["capgroup"] == 4, f"info guest counts: {r}")
    check(0 < r["pages_free"] < r["pages_total"], f"info guest pages: {r}")
    m.cmd("quit")
    print(f"ok: descriptor {counts}, {len(procs)} processes; info guest {r['counts']}")
finally:
    v.kill()
