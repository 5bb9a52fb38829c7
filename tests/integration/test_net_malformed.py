"""A hostile driver: the guest program netbad feeds the device malformed
rings (addresses and lengths outside RAM, over-long chains, loops, index
jumps). Every case must put the device into DEVICE_NEEDS_RESET with a log
line, the VMM must stay up and answer `info net` (malformed > 0), and a
device must work again after the driver resets it (netbad's last case sends
a frame and gets a reply), and a following fresh run with kvd must serve
requests on the same tap.
Argv: VMM GUEST."""
import re
import sys
import time

from harness import NetNs, check, require_accel, require_netns
from netcommon import boot, info_net, kvcli_ok, quit_vmm, wait_kvd

require_accel()
require_netns()
vmm, guest = sys.argv[1], sys.argv[2]
ns = NetNs()
d = ns.tmpdir()

try:
    v, m = boot(ns, vmm, guest, d, "bad", cmdline="init=netbad", ready=None)
    v.wait_for("netbad: done", timeout=90)
    time.sleep(0.2)
    out = v.stdout()
    cases = re.findall(r"^netbad: (\S+) needs_reset=(yes|no)\s*$", out, re.M)
    done = re.search(r"^netbad: done ok=(\d+) bad=(\d+)", out, re.M)
    check(cases, f"netbad printed no case lines\n{v.dump()}")
    no = [c for c, r in cases if r != "yes"]
    check(not no, f"cases that did not put the device into NEEDS_RESET: {no}\n{v.dump()}")
    # netbad ends by resetting the device and sending a frame that needs a reply.
    sent = re.search(r"^netbad: transmit sent=(\w+) reply=(\w+)", out, re.M)
    check(sent and sent.group(1) == "yes" and sent.group(2) == "yes",
          f"the device does not work after its reset: {sent.group(0) if sent else 'no transmit line'}\n{v.dump()}")
    check(done and int(done.group(2)) == 0 and int(done.group(1)) == len(cases) + 1,
          f"netbad summary {done.group(0) if done else None!r} for {len(cases)} case lines + transmit\n{v.dump()}")
    check(v.proc.poll() is None, f"vmm exited ({v.proc.returncode}) after the malformed rings\n{v.dump()}")
    n = info_net(m, v)
    check(n["malformed"] >= len(cases), f"info net counts {n['malformed']} malformed rings for {len(cases)} cases: {n}")
    err = v.stderr()
    logged = [l for l in err.splitlines() if re.search(r"malformed|needs (a )?reset|broke the virtio rules", l, re.I)]
    check(len(logged) >= len(cases), f"{len(logged)} log lines about malformed rings for {len(cases)} cases\n{err}")
    check(not re.search(r"\b(critical|crash|unexpected exit)\b", err, re.I), f"the VMM logged a crash\n{err}")
    r = m.cmd("info ckpt")
    check(r.get("ok") is True, f"info ckpt after netbad: {r}")
    quit_vmm(v, m, "netbad")
    print(f"netbad: {len(cases)} cases, all NEEDS_RESET; info net malformed={n['malformed']}; e.g. {logged[0]!r}")

    # The same tap with a fresh, well-behaved guest.
    v, m = boot(ns, vmm, guest, d, "good")
    wait_kvd(ns, v)
    kvcli_ok(ns, v, "set", "after-netbad", "fine", expect_out="OK\n")
    kvcli_ok(ns, v, "get", "after-netbad", expect_out="fine\n")
    rtts, p = ns.ping(count=3, interval=0.2, wait=2)
    check(len(rtts) == 3, f"{len(rtts)}/3 ping replies after netbad\n{p.stdout}{p.stderr}")
    n = info_net(m, v)
    check(n["malformed"] == 0 and not n["needs_reset"], f"fresh run: {n}")
    quit_vmm(v, m, "kvd after netbad")
    print("ok: every malformed ring case needs a reset, the VMM survives, the next run serves kvd")
finally:
    ns.close()
