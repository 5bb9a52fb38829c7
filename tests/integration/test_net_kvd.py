"""kvd over UDP through the virtio-net device: tools/kvcli set/get/del/stats
with their expected replies, protocol edge cases sent raw (ids echoed, values
with spaces, empty values, the size limits, a trailing newline, errors), and
durability: a SET acknowledged just before SIGKILL is there after a new vmm
resumes the checkpoint. Argv: VMM GUEST."""
import json
import signal
import subprocess
import sys

from harness import GUEST_IP, KVD_PORT, NetNs, check, require_accel, require_netns
from netcommon import boot, info_net, kvcli_ok, quit_vmm, wait_kvd

require_accel()
require_netns()
vmm, guest = sys.argv[1], sys.argv[2]
ns = NetNs()
d = ns.tmpdir()

# Sends each datagram from inside the namespace, one at a time, and prints
# the replies as JSON ([] when none came within the timeout).
RAW = r"""
import json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[3]))
out = []
for req in json.loads(sys.stdin.read()):
    s.sendto(req.encode("latin-1"), (sys.argv[1], int(sys.argv[2])))
    got = []
    try:
        while True:
            got.append(s.recv(65536).decode("latin-1"))
            s.settimeout(0.05)
    except socket.timeout:
        pass
    s.settimeout(float(sys.argv[3]))
    out.append(got)
print(json.dumps(out))
"""


def raw(requests, timeout=1.0):
    p = subprocess.run(ns.prefix() + [sys.executable, "-c", RAW, GUEST_IP, str(KVD_PORT), str(timeout)],
                       input=json.dumps(requests), capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"raw UDP helper failed: {p.stderr}")
    return json.loads(p.stdout)


try:
    v, m = boot(ns, vmm, guest, d, "kvd")
    wait_kvd(ns, v)

    # kvcli commands.
    rc, out, err = ns.kvcli("--timeout", "1", "get", "nosuchkey")
    check(rc == 1 and out == "" and "nosuchkey: not found" in err, f"get of a missing key: {rc} {out!r} {err!r}")
    kvcli_ok(ns, v, "set", "alpha", "1", expect_out="OK\n")
    kvcli_ok(ns, v, "set", "beta", "two  words here", expect_out="OK\n")
    kvcli_ok(ns, v, "set", "gamma", "", expect_out="OK\n")
    kvcli_ok(ns, v, "get", "alpha", expect_out="1\n")
    kvcli_ok(ns, v, "get", "beta", expect_out="two  words here\n")
    kvcli_ok(ns, v, "get", "gamma", expect_out="\n")
    kvcli_ok(ns, v, "set", "alpha", "uno", expect_out="OK\n")
    kvcli_ok(ns, v, "get", "alpha", expect_out="uno\n")
    kvcli_ok(ns, v, "del", "beta", expect_out="OK\n")
    rc, out, err = ns.kvcli("--timeout", "1", "del", "beta")
    check(rc == 1 and "beta: not found" in err, f"second del: {rc} {out!r} {err!r}")
    rc, out, err = ns.kvcli("--timeout", "1", "get", "beta")
    check(rc == 1 and "beta: not found" in err, f"get after del: {rc} {out!r} {err!r}")
    big = "x" * 1024
    kvcli_ok(ns, v, "set", "k" * 64, big, expect_out="OK\n")
    kvcli_ok(ns, v, "get", "k" * 64, expect_out=big + "\n")
    stats = kvcli_ok(ns, v, "stats").strip()
    f = dict(kv.split("=") for kv in stats.split())
    check(set(f) == {"keys", "sets", "gets", "dels"}, f"stats: {stats!r}")
    # alpha, gamma, kkk...: 3 keys; at least 5 SETs, 7 GETs (1 the wait_kvd stats is not a GET), 2 DELs.
    check(int(f["keys"]) == 3 and int(f["sets"]) >= 5 and int(f["gets"]) >= 7 and int(f["dels"]) >= 2,
          f"stats after 5 sets, 7 gets, 2 dels, 3 keys left: {stats!r}")

    # Raw requests: the id is echoed; errors; limits.
    replies = raw(["r1 GET alpha", "r2 GET alpha\n", "r3 SET sp a  b ", "r4 GET sp", "r5 FROB x",
                   "r6 SET " + "k" * 65 + " v", "r7 SET big " + "y" * 1025, "r8 GET", "r9 STATS",
                   "NOID", "r10 DEL gamma", "r11 GET gamma"])
    expected = [["r1 VALUE uno"], ["r2 VALUE uno"], ["r3 OK"], ["r4 VALUE a  b "], None, None, None, None, None,
                None, ["r10 OK"], ["r11 NOTFOUND"]]
    for i, (got, want) in enumerate(zip(replies, expected)):
        if want is not None:
            check([g.rstrip("\n") for g in got] == want, f"raw request {i + 1}: replies {got}, expected {want}")
    for i in (4, 5, 6, 7):
        check(len(replies[i]) == 1 and replies[i][0].startswith(f"r{i + 1} ERR"),
              f"raw request {i + 1} should be refused with 'r{i + 1} ERR ...': {replies[i]}")
    check(len(replies[8]) == 1 and replies[8][0].startswith("r9 STATS keys="), f"raw STATS: {replies[8]}")
    check(len(replies[9]) <= 1, f"a request without id: {replies[9]}")

    n = info_net(m, v)
    check(n["rx_frames"] > 0 and n["tx_frames"] > 0 and n["released"] > 0 and not n["needs_reset"]
          and n["malformed"] == 0, f"info net after kvd traffic: {n}")

    # Durability: an acknowledged SET survives SIGKILL right after the OK.
    kvcli_ok(ns, v, "set", "durable", "acked-before-sigkill", expect_out="OK\n")
    v.proc.send_signal(signal.SIGKILL)
    v.wait(timeout=30)
    m.close()
    v, m = boot(ns, vmm, guest, d, "kvd2", fresh=False, ready=None)
    v.wait_for("resumed checkpoint", timeout=60, stream="err")
    wait_kvd(ns, v)
    kvcli_ok(ns, v, "get", "durable", expect_out="acked-before-sigkill\n")
    kvcli_ok(ns, v, "get", "alpha", expect_out="uno\n")
    quit_vmm(v, m, "after resuming")
    print(f"ok: kvd set/get/del/stats, raw protocol cases, an acked SET survives SIGKILL ({stats})")
finally:
    ns.close()
