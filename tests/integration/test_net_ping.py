"""ping through the virtio-net device, and external synchrony made visible:
with checkpoints every 1000 ms a reply must stay held (no reply for 300 ms,
`info net` held > 0) until the monitor's `checkpoint` commits, and must then
come at once; with --no-external-sync replies come at once without any
checkpoint. Prints the median ping RTT at 10 ms checkpoints, held vs not.
Argv: VMM GUEST."""
import re
import sys
import time

from harness import GUEST_IP, NetNs, check, fail, median, ready_cmd, require_accel, require_netns
from netcommon import boot, info_net, quit_vmm

require_accel()
require_netns()
vmm, guest = sys.argv[1], sys.argv[2]
ns = NetNs()
d = ns.tmpdir()


def pin_neighbour():
    """Makes the host's ARP entry for the guest permanent, so that a ping
    needs no ARP exchange (which external synchrony would hold as well)."""
    p = ns.run(["ip", "neigh", "show", GUEST_IP, "dev", "tap0"], check_ok=True)
    mac = re.search(r"lladdr ([0-9a-f:]{17})", p.stdout)
    check(mac, f"no ARP entry for {GUEST_IP} after a ping: {p.stdout!r}")
    ns.run(["ip", "neigh", "replace", GUEST_IP, "lladdr", mac.group(1), "dev", "tap0", "nud", "permanent"],
           check_ok=True)


def committed(m):
    r = ready_cmd(m, "info ckpt")
    check(r.get("ok") is True, f"info ckpt: {r}")
    return r["committed_version"]


def after_commit(m):
    """Returns just after a checkpoint commits (the next is an interval away)."""
    before = committed(m)
    deadline = time.monotonic() + 2.5
    while committed(m) == before and time.monotonic() < deadline:
        time.sleep(0.005)


def held_until_checkpoint(v, m):
    """One ping while checkpoints are 1 s apart: no reply for 300 ms (unless
    a periodic checkpoint committed meanwhile: then try again), then a reply
    right after `checkpoint`. Returns (RTT ms, ms from checkpoint to reply)."""
    for attempt in range(6):
        # Start right after a periodic checkpoint: the next one is ~1 s away.
        after_commit(m)
        before = committed(m)
        p = ns.popen(["ping", "-n", "-c", "1", "-W", "5", GUEST_IP])
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.3 and p.poll() is None:
            time.sleep(0.005)
        early = p.poll() is not None
        held = info_net(m, v)["held"]
        after = committed(m)
        if after != before:
            # A periodic checkpoint committed during the window: not conclusive.
            p.kill()
            p.communicate()
            time.sleep(0.05)
            continue
        if early:
            out, err = p.communicate()
            fail(f"a ping reply arrived {1000 * (time.monotonic() - t0):.0f} ms after the request with no "
                 f"checkpoint committed (version {before}): it was not held\n{out}{err}\n{v.dump()}")
        check(held > 0, f"no frame held 300 ms after a ping with no checkpoint since: info net {info_net(m, v)}")
        t1 = time.monotonic()
        r = m.cmd("checkpoint")
        check(r.get("ok") is True, f"checkpoint: {r}")
        try:
            out, err = p.communicate(timeout=3)
        except Exception:
            p.kill()
            out, err = p.communicate()
            fail(f"no ping reply within 3 s of a committed checkpoint\n{out}{err}\n{v.dump()}")
        t2 = time.monotonic()
        rtts = [float(x) for x in re.findall(r"time=([0-9.]+) ms", out)]
        check(p.returncode == 0 and len(rtts) == 1, f"ping after checkpoint: exit {p.returncode}\n{out}{err}")
        # The window opened before ping sent its request (process start-up), hence some slack.
        check(rtts[0] >= 250, f"ping RTT {rtts[0]} ms, yet no reply was seen for 300 ms")
        return rtts[0], 1000 * (t2 - t1)
    fail("a periodic checkpoint committed during each of 6 attempts (interval 1000 ms): cannot tell")


try:
    # 1. External synchrony on (the default).
    v, m = boot(ns, vmm, guest, d, "sync")
    n = info_net(m, v)
    check(n["link"] == "tap tap0" and n["external_sync"] is True, f"info net: {n}")
    rtts, p = ns.ping(count=5, interval=0.2, wait=2)
    check(len(rtts) == 5, f"{len(rtts)}/5 ping replies with external synchrony\n{p.stdout}{p.stderr}\n{v.dump()}")
    held_rtts, p = ns.ping(count=50, interval=0.02, wait=2)
    check(len(held_rtts) >= 48, f"{len(held_rtts)}/50 replies at 20 ms intervals\n{p.stdout}{p.stderr}")
    pin_neighbour()
    r = m.cmd("set ckpt-interval 1000")
    check(r.get("ok") is True, f"set ckpt-interval 1000: {r}")
    time.sleep(0.1)
    results = [held_until_checkpoint(v, m) for _ in range(3)]
    n = info_net(m, v)
    check(n["released"] > 0 and n["tx_frames"] >= n["released"], f"info net counters after pings: {n}")
    quit_vmm(v, m, "external synchrony on")

    # 2. External synchrony off: replies without waiting for a checkpoint.
    v, m = boot(ns, vmm, guest, d, "nosync", extra=["--no-external-sync"])
    n = info_net(m, v)
    check(n["external_sync"] is False, f"info net with --no-external-sync: {n}")
    pin_neighbour()
    r = m.cmd("set ckpt-interval 1000")
    check(r.get("ok") is True, f"set ckpt-interval 1000: {r}")
    time.sleep(0.1)
    after_commit(m)
    before = committed(m)
    rtts, p = ns.ping(count=5, interval=0.05, wait=2)
    after = committed(m)
    check(len(rtts) == 5, f"{len(rtts)}/5 ping replies without external synchrony\n{p.stdout}{p.stderr}")
    # No checkpoint committed while they came (else they must at least come much faster than one interval).
    check(after == before or max(rtts) < 250,
          f"ping RTTs {rtts} ms without external synchrony at 1000 ms checkpoints (versions {before} -> {after})")
    r = m.cmd("set ckpt-interval 10")
    check(r.get("ok") is True, f"set ckpt-interval 10: {r}")
    free_rtts, p = ns.ping(count=50, interval=0.02, wait=2)
    check(len(free_rtts) >= 48, f"{len(free_rtts)}/50 replies at 20 ms intervals, not held")
    n = info_net(m, v)
    check(n["held"] == 0, f"frames held with external synchrony off: {n}")
    quit_vmm(v, m, "external synchrony off")

    on, off = median(held_rtts), median(free_rtts)
    print(f"held until checkpoint (interval 1000 ms): RTT {', '.join(f'{r:.0f}' for r, _ in results)} ms; "
          f"reply {', '.join(f'{t:.1f}' for _, t in results)} ms after `checkpoint` was sent")
    print(f"ping RTT median at 10 ms checkpoints: held {on:.2f} ms, not held {off:.2f} ms "
          f"(max {max(held_rtts):.2f} / {max(free_rtts):.2f})")
    check(all(t < 300 for _, t in results), f"replies came {[round(t) for _, t in results]} ms after `checkpoint`"
          " was sent (want < 300)")
    check(on > off, f"holding frames did not cost anything: median RTT held {on:.2f} ms <= not held {off:.2f} ms")
    print("ok: ping, replies held until their checkpoint commits, released at once by `checkpoint`")
finally:
    ns.close()
