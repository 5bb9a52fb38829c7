"""What the network tests share: booting kvd (or another guest program) in a
test's own namespace, reading `info net`."""
import time

from harness import GUEST_IP, KVD_PORT, Monitor, check, fail

KVD = f"kvd:ip={GUEST_IP},port={KVD_PORT}"


def boot(ns, vmm, guest, d, tag, cmdline=f"init={KVD}", extra=(), fresh=True, ready="kvd: listening on",
         memory="128M", vcpus="1", interval="10"):
    """Starts vmm in `ns` with a network device on tap0; waits for `ready` on
    the guest console; returns (Vmm, Monitor)."""
    sock = f"{d}/{tag}.sock"
    args = (["--fresh"] if fresh else []) + [
        "--nvm", f"{d}/nvm", "--memory", memory, "--vcpus", vcpus, "--monitor", sock, "--net-tap", "tap0",
        "--ckpt-interval", interval, "--cmdline", cmdline, *extra, guest]
    v = ns.vmm(vmm, args)
    if ready:
        v.wait_for(ready, timeout=60)
    m = Monitor(sock, timeout=30)
    return v, m


def info_net(m, v=None):
    r = m.cmd("info net")
    check(r.get("ok") is True, f"info net: {r}" + (f"\n{v.dump()}" if v else ""))
    for k in ("link", "external_sync", "held", "released", "dropped_powerfail", "tx_frames", "rx_frames",
              "needs_reset", "malformed", "hold_us"):
        check(k in r, f"info net lacks {k!r}: {r}")
    return r


def quit_vmm(v, m, label):
    r = m.cmd("quit")
    check(r.get("ok") is True, f"{label}: quit: {r}")
    code = v.wait(timeout=60)
    check(code == 0, f"{label}: vmm exited {code} after quit\n{v.dump()}")


def kvcli_ok(ns, v, *args, expect_out=None, timeout_s="1", retries="5"):
    rc, out, err = ns.kvcli("--timeout", timeout_s, "--retries", retries, *args)
    check(rc == 0, f"kvcli {' '.join(map(str, args))}: exit {rc}\nstdout: {out}\nstderr: {err}\n{v.dump()}")
    if expect_out is not None:
        check(out == expect_out, f"kvcli {' '.join(map(str, args))}: printed {out!r}, expected {expect_out!r}")
    return out


def wait_kvd(ns, v, timeout=30):
    """Waits until kvd answers (the first request also resolves ARP)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        rc, out, err = ns.kvcli("--timeout", "0.5", "--retries", "0", "stats")
        if rc == 0:
            return out
        if v.proc.poll() is not None:
            break
    fail(f"kvd does not answer on {GUEST_IP}:{KVD_PORT}: {err.strip()}\n{v.dump()}")
