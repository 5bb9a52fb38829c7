"""tools/kvcli against a fake kvd on the loopback (no KVM, no namespace):
commands and their output and exit status, retries with the same id through
lost requests and replies, late duplicate replies ignored, stream recording
only acknowledged SETs and stopping when nothing is acknowledged, verify
naming missing and wrong keys. Argv: none
(meson passes VMM GUEST, unused)."""
import json
import os
import signal
import subprocess
import sys
import time

from harness import check, tmpdir
from fake_kvd import FakeKvd

KVCLI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "kvcli")


def kvcli(port, *args, timeout=60, opts=("--timeout", "0.2", "--retries", "3")):
    p = subprocess.run([sys.executable, KVCLI, "--host", "127.0.0.1", "--port", str(port), *opts, *args],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def expect(port, args, code, out=None, err=None):
    rc, o, e = kvcli(port, *args)
    where = f"kvcli {' '.join(args)}: exit {rc}, stdout {o!r}, stderr {e!r}"
    check(rc == code, f"{where}: expected exit {code}")
    if out is not None:
        check(o == out, f"{where}: expected stdout {out!r}")
    if err is not None:
        check(err in e and e.count("\n") == 1, f"{where}: expected one error line with {err!r}")
    return o


d = tmpdir()
srv = FakeKvd()
try:
    p = srv.port
    expect(p, ["get", "a"], 1, "", "a: not found")
    expect(p, ["set", "a", "1"], 0, "OK\n")
    expect(p, ["set", "b", "two words  here"], 0, "OK\n")
    expect(p, ["set", "empty", ""], 0, "OK\n")
    expect(p, ["get", "a"], 0, "1\n")
    expect(p, ["get", "b"], 0, "two words  here\n")
    expect(p, ["get", "empty"], 0, "\n")
    expect(p, ["del", "a"], 0, "OK\n")
    expect(p, ["del", "a"], 1, "", "not found")
    expect(p, ["stats"], 0, "keys=2 sets=3 gets=4 dels=2\n")
    expect(p, ["set", "k" * 65, "x"], 2, "", "bad key")
    expect(p, ["set", "a", "x" * 1025], 2, "", "value too long")
    expect(p, ["set", "a", "x" * 1024], 0, "OK\n")
    rc, o, e = kvcli(p, "--help")
    check(rc == 0 and "stream" in o, f"--help: {rc} {o!r}")
    rc, o, e = kvcli(p, "frob")
    check(rc == 2, f"unknown command: exit {rc}")
finally:
    srv.close()

# No server: one clear line, exit 2, within (retries + 1) * timeout.
t = time.monotonic()
expect(p, ["get", "a"], 2, "", "no reply from 127.0.0.1")
check(time.monotonic() - t < 5, "no-reply took too long")

# Lossy server with late duplicates: every SET is retried until acknowledged.
srv = FakeKvd(lose_requests=0.15, lose_replies=0.15, duplicate=0.3, seed=7)
rec = f"{d}/acked.jsonl"
try:
    rc, o, e = kvcli(srv.port, "stream", "--count", "300", "--verify", rec,
                     opts=("--timeout", "0.05", "--retries", "30"))
    check(rc == 0, f"stream over a lossy server: exit {rc}\n{o}\n{e}")
    check("300 acked, 0 not acked" in o and "latency ms p50=" in o and " p99=" in o, f"stream summary: {o!r}")
    retried = int(o.split(" retried")[0].rsplit(" ", 1)[1])
    check(retried > 20, f"only {retried} SETs retried with 30% loss: {o!r}")
    stale = int(o.split(" stale replies")[0].rsplit(" ", 1)[1])
    check(stale > 0, f"no stale replies seen with duplicates on: {o!r}")
    recs = [json.loads(l) for l in open(rec)]
    check(len(recs) == 300 and len({r['key'] for r in recs}) == 300 and len({r['value'] for r in recs}) == 300,
          f"{len(recs)} records, keys/values not unique")
    check(all(srv.data.get(r["key"]) == r["value"] for r in recs), "a recorded SET is not in the server")
    srv.lose_requests = srv.lose_replies = 0.0
    rc, o, e = kvcli(srv.port, "verify", rec, opts=("--timeout", "0.05", "--retries", "30"))
    check(rc == 0 and "verify: 300 keys, 300 ok, 0 missing, 0 wrong" in o, f"verify: {rc} {o!r} {e!r}")
    # Lose one key, change another: verify names both and fails.
    k1, k2 = recs[10]["key"], recs[200]["key"]
    del srv.data[k1]
    srv.data[k2] = "changed"
    rc, o, e = kvcli(srv.port, "verify", rec, opts=("--timeout", "0.05", "--retries", "30"))
    check(rc == 1 and f"MISSING {k1}" in o and f"WRONG {k2}" in o and "1 missing, 1 wrong" in o,
          f"verify after damage: {rc} {o!r}")
finally:
    srv.close()

# A server that answers nothing: the stream stops after 5 unacknowledged SETs in a row.
srv = FakeKvd(lose_requests=1.0)
try:
    rc, o, e = kvcli(srv.port, "stream", "--count", "1000", opts=("--timeout", "0.05", "--retries", "1"))
    check(rc == 1 and "0 acked, 5 not acked" in o and "5 SETs in a row not acknowledged: stopping" in e,
          f"stream to a silent server: {rc} {o!r} {e!r}")
finally:
    srv.close()

# An interrupted stream records only acknowledged SETs and still summarises.
srv = FakeKvd()
rec2 = f"{d}/int.jsonl"
try:
    proc = subprocess.Popen([sys.executable, KVCLI, "--host", "127.0.0.1", "--port", str(srv.port), "stream",
                             "--count", "100000", "--rate", "200", "--verify", rec2],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    o, e = proc.communicate(timeout=10)
    check(proc.returncode == 0 and "(interrupted)" in o, f"interrupted stream: {proc.returncode} {o!r} {e!r}")
    recs = [json.loads(l) for l in open(rec2)]
    check(50 <= len(recs) <= 260, f"--rate 200 for ~1 s recorded {len(recs)} SETs")
    check(all(srv.data.get(r["key"]) == r["value"] for r in recs), "a recorded SET is not in the server")
finally:
    srv.close()
for f in (rec, rec2):
    os.unlink(f)
os.rmdir(d)
print("ok: kvcli commands, retries through 15%+15% loss, stale replies ignored, verify finds missing/wrong keys")
