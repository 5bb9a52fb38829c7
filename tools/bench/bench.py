#!/usr/bin/env python3
"""Checkpoint-latency benchmark for hypersls (`vmm bench` calls this script).

Runs a matrix of points (guest memory x vCPUs x pages dirtied per epoch x
hot/cold skew x copy policy x checkpoint interval x persistence domain). For
each point it boots the real guest on KVM several times:

  pause     memstress at rate = dirty x 1000 / interval over a working set of
            10 x dirty pages (hot/cold skew), the guest's `clock` program
            pinned to the last vCPU (2+ vCPUs); stop-the-world pause p50/p99/max
            and its breakdown, copy-on-write faults, NVM bytes per checkpoint
            (`info ckpt`), the guest-visible pause (`clock report`), then
            in-process power failures (`powerfail restart`, restore_ms of the
            `recovered` event)
  cold      SIGKILL of that vmm, a new vmm on the same NVM file: time from
            spawn to the "resumed checkpoint" log line (printed when the
            machine, checkpointer included, is ready and its vCPUs start)
            and to the first checkpoint after it (the guest ran)
  clock     1 vCPU only: `clock` alone (memstress would share the only vCPU,
            and the scheduler's 10 ms slices would hide the pause)
  overhead  unthrottled memstress over `dirty` pages (so each epoch dirties
            about `dirty` pages), checkpoints on and off alternately
            (on, off, off, on, ...): overhead = 1 - writes/s(on) / writes/s(off)
  net       (--net) the guest's kvd UDP key-value server on virtio-net, in a
            private network namespace: a closed-loop client (SET/GET pairs,
            --net-clients requests outstanding, optionally a random think
            time --net-think) runs for --net-seconds inside
            the namespace, once with external synchrony on and once off
            (--no-external-sync); latency p50/p99/max, requests/s, the
            VMM's hold times (`info net`), latency CDFs

and optionally a QEMU baseline per (memory, vCPUs): full snapshot (migrate to
a file), the same with the VM stopped first, background snapshot
(userfaultfd write-protect), restore from the file; our figures are reported
as ratios to QEMU's from the same run.

Output in --out (default results/<timestamp>): config.json, results.jsonl
(one object per point, appended as each finishes), results.csv, qemu.csv,
summary.md, plots *.png (gnuplot, when installed). Ctrl-C stops cleanly and
keeps the finished points; --resume DIR continues. Python 3.11+ stdlib only.
"""
import argparse
import csv
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AXES = ["memory", "vcpus", "dirty", "skew", "policy", "interval", "persistence"]
POLICIES = ["stop-and-copy", "cow", "hybrid", "precopy"]
PARTS = ["stop", "save", "dirty_log", "copy", "protect", "flush", "commit", "resume"]
DEFAULTS = {
    "memory": ["256M"], "vcpus": [1], "dirty": [100], "skew": ["10/90"], "policy": ["hybrid"],
    "interval": [10.0], "persistence": ["eadr"],
    "duration": 3.0, "warmup": 0.5, "overhead_pairs": 8, "overhead_window": 0.3, "no_ckpt_check": True, "recoveries": 3,
    "cold": True, "qemu": False, "qemu_reps": 3, "wait_idle": 0.0, "nvm_dir": "/dev/shm",
    "net": False, "net_only": False, "net_seconds": 5.0, "net_warmup": 0.5, "net_reps": 1, "net_clients": 1,
    "net_load": "auto", "net_value": 64, "net_think": 0.0,
}
TINY = {
    "memory": ["64M"], "vcpus": [1], "dirty": [100], "skew": ["10/90"], "policy": ["hybrid", "stop-and-copy"],
    "interval": [10.0], "persistence": ["eadr"],
    "duration": 1.0, "warmup": 0.3, "overhead_pairs": 2, "overhead_window": 0.3, "recoveries": 1,
    "cold": True, "qemu": False, "qemu_reps": 1,
    "net_seconds": 1.0, "net_warmup": 0.2,  # only with --net: --tiny alone has no network phase
}
# Bars of issue 4 (KVM) and issue 14 (the software CPU); guest 256 MiB, ~100 pages dirtied per epoch.
BARS = {
    "kvm": {"issue": 4, "pause_p50_1": 100.0, "pause_p99_1": 400.0, "pause_p50_2": 150.0, "overhead_1ms": 12.0,
            "overhead_10ms": 2.0, "recovery_ms": 10.0},
    "tcg": {"issue": 14, "pause_p50_1": 50.0, "pause_p99_1": 200.0, "pause_p50_2": 75.0, "overhead_1ms": 15.0,
            "overhead_10ms": 3.0, "recovery_ms": 10.0, "below_qemu_stopped": 2000.0},
}
BAR = BARS["kvm"]


def bar_for(accel):
    """The bar of the issue that set targets for this accelerator (KVM's for kvm and auto)."""
    return BARS["tcg"] if accel == "tcg" else BARS["kvm"]

STOP = threading.Event()  # set by Ctrl-C / SIGTERM


class Interrupted(Exception):
    pass


class PhaseError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# helpers


def parse_size(s):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", str(s), re.I)
    if not m:
        raise ValueError(f"bad size {s!r} (e.g. 256M, 1G)")
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m.group(2).upper()]
    return int(float(m.group(1)) * mult)


def size_label(n):
    for unit, v in (("G", 1 << 30), ("M", 1 << 20)):
        if n % v == 0:
            return f"{n // v}{unit}"
    return str(n)


def pct(values, p):
    """Nearest-rank percentile (same convention as the VMM's summary)."""
    v = sorted(values)
    if not v:
        return None
    k = max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))
    return v[k]


def mean(values):
    v = [x for x in values if x is not None]
    return sum(v) / len(v) if v else None


def median(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def rnd(x, nd=2):
    return None if x is None else round(float(x), nd)


def sleep(s):
    """Sleeps, but wakes up at once on Ctrl-C."""
    if STOP.wait(max(0.0, s)):
        raise Interrupted()


def check_stop():
    if STOP.is_set():
        raise Interrupted()


def point_key(p):
    return "|".join(f"{a}={p[a]}" for a in AXES)


def net_slug(p):
    return (f"{p['memory']}-{p['vcpus']}v-{p['policy']}-{float(p['interval']):g}ms-d{p['dirty']}-"
            f"s{str(p['skew']).replace('/', '_')}-{p['persistence']}")


def nearest(sorted_values, q):
    """Nearest-rank quantile q (0-1) of sorted values; q = 0 gives the minimum."""
    if not sorted_values:
        return None
    return sorted_values[max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))]


def fmt_secs(s):
    if s is None or s != s:
        return "?"
    s = int(max(0, s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def foreign_load(own_pids):
    """Other vmm / qemu processes on the host (they share our 2 cores)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in own_pids:
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm == "vmm" or comm.startswith("qemu-system"):
            found.append(f"{comm}:{d}")
    return found


def cpu_times():
    """(busy, steal) seconds of the whole host, and the CPU seconds of this process and its reaped children."""
    import resource
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    busy = (v[0] + v[1] + v[2] + v[5] + v[6]) / hz
    steal = (v[7] if len(v) > 7 else 0) / hz
    own = sum(getattr(resource.getrusage(w), a) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for a in ("ru_utime", "ru_stime"))
    return busy, steal, own, time.monotonic()


def contention(before, after):
    """CPU used by other processes (% of the host's CPUs) and time stolen by the outer hypervisor."""
    wall = (after[3] - before[3]) * (os.cpu_count() or 1)
    if wall <= 0:
        return None, None
    foreign = (after[0] - before[0]) - (after[2] - before[2])
    return round(max(0.0, 100.0 * foreign / wall), 1), round(100.0 * (after[1] - before[1]) / wall, 1)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# processes and the monitor


def _libc_prctl():
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl
    except Exception:  # noqa: BLE001
        return None


# Resolved once here: loading ctypes in every forked child cost the cold-start
# figure (spawn -> resumed) several milliseconds that were not the vmm's.
_PRCTL = _libc_prctl()


def _die_with_parent():
    """In the child before exec: PR_SET_PDEATHSIG = SIGKILL (Linux), so no VM outlives a killed benchmark."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL, 0, 0, 0)


class Proc:
    """A child process (vmm or qemu) with stdout/stderr lines collected with their arrival time."""

    registry = set()

    def __init__(self, cmd, env=None, name=None):
        self.cmd = cmd
        self.name = name or os.path.basename(cmd[0])
        self.t_spawn = time.monotonic()
        # Own session (Ctrl-C reaches only us; we stop the VM ourselves), and SIGKILL when we die anyhow:
        # a vmm given --exit-with-parent asks for that itself, so it is spawned without Python code in
        # the child (vfork; forking this process and running a preexec function cost the cold-start
        # figure ~10-20 ms here, charged to the vmm's CPU time before main).
        own = "--exit-with-parent" in cmd
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  start_new_session=True, env=env, preexec_fn=None if own else _die_with_parent)
        Proc.registry.add(self)
        self.lock = threading.Lock()
        self.lines = {"out": [], "err": []}
        self.threads = [threading.Thread(target=self._pump, args=(self.p.stdout, "out"), daemon=True),
                        threading.Thread(target=self._pump, args=(self.p.stderr, "err"), daemon=True)]
        for t in self.threads:
            t.start()

    def _pump(self, stream, name):
        for raw in iter(stream.readline, b""):
            t = time.monotonic()
            with self.lock:
                self.lines[name].append((t, raw.decode(errors="replace").rstrip("\n")))

    @property
    def pid(self):
        return self.p.pid

    def count(self, stream="out"):
        with self.lock:
            return len(self.lines[stream])

    def text(self, stream="out"):
        with self.lock:
            return "\n".join(l for _, l in self.lines[stream])

    def wait_line(self, regex, timeout, stream="out", start=0):
        """Waits for a line matching `regex` at index >= start; returns (match, arrival time)."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        i = start
        while True:
            with self.lock:
                new = self.lines[stream][i:]
            for t, line in new:
                i += 1
                m = rx.search(line)
                if m:
                    return m, t
            if self.p.poll() is not None:
                time.sleep(0.1)
                with self.lock:
                    if len(self.lines[stream]) > i:
                        continue
                raise PhaseError(f"{self.name} exited ({self.p.returncode}) before printing "
                                 f"/{regex}/; last log: {self.tail()}")
            if time.monotonic() > deadline:
                raise PhaseError(f"timed out after {timeout:.0f}s waiting for /{regex}/; last log: {self.tail()}")
            sleep(0.01)

    def tail(self, n=3):
        with self.lock:
            ls = [l for _, l in self.lines["err"][-n:]] + [l for _, l in self.lines["out"][-n:]]
        return " | ".join(ls)[-600:]

    def kill(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        Proc.registry.discard(self)

    def wait(self, timeout):
        try:
            code = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise PhaseError(f"{self.name} did not exit within {timeout}s")
        Proc.registry.discard(self)
        return code


class Monitor:
    """JSON-lines client for the vmm monitor socket and QEMU's QMP."""

    def __init__(self, path, proc, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            check_stop()
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except OSError:
                s.close()
                if proc.p.poll() is not None:
                    raise PhaseError(f"process exited ({proc.p.returncode}) before its socket came up: {proc.tail()}")
                if time.monotonic() > deadline:
                    raise PhaseError(f"cannot connect to {path}")
                time.sleep(0.005)
        self.sock = s
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise PhaseError("the monitor closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def _reply(self):
        while True:
            o = self._line()
            if "event" in o:
                o["_t"] = time.monotonic()
                self.events.append(o)
                continue
            return o

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        try:
            return self._reply()
        except socket.timeout:
            raise PhaseError(f"no reply to {line!r}")

    def qmp(self, execute, **args):
        msg = {"execute": execute}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        try:
            r = self._reply()
        except socket.timeout:
            raise PhaseError(f"no QMP reply to {execute}")
        if "error" in r:
            raise PhaseError(f"QMP {execute}: {r['error'].get('desc', r['error'])}")
        return r.get("return")

    def wait_event(self, name, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e.get("event") == name:
                    self.events.remove(e)
                    return e
            check_stop()
            left = deadline - time.monotonic()
            if left <= 0:
                raise PhaseError(f"timed out waiting for the {name!r} event")
            self.sock.settimeout(min(left, 0.2))
            try:
                o = self._line()
            except socket.timeout:
                continue
            finally:
                self.sock.settimeout(20)
            o["_t"] = time.monotonic()
            self.events.append(o)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# network: the kvd client (runs inside the namespace) and the namespace itself

GUEST_IP, KVD_PORT, TAP = "10.77.0.2", 7000, "tap0"
NETNS_PREFIX = "hsls-bench"  # + <pid>-<n>: namespaces of a dead benchmark are removed at the next start


def net_client(argv):
    """`bench.py _net-client ...`, run by the benchmark with `ip netns exec NS`: a closed-loop UDP client of kvd.
    Keeps --clients requests outstanding; each slot alternates `SET key value` and `GET key` (the value must come
    back) over 512 keys of its own; with --think MS a slot waits a random 0-MS ms after each reply before its next
    request (so requests reach the guest at random points of a checkpoint interval instead of right after the
    commit that released the previous reply). A request with no reply within --timeout is sent again with the same
    id (its latency counts from the first send). Measures requests sent in the --seconds window after --warmup (their
    replies are awaited after the window, so slow ones are not cut off); writes their latencies (us, one per line)
    to --out and prints one JSON line of counters."""
    ap = argparse.ArgumentParser(prog="bench.py _net-client")
    ap.add_argument("--host", default=GUEST_IP)
    ap.add_argument("--port", type=int, default=KVD_PORT)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--ready-timeout", type=float, default=30.0)
    ap.add_argument("--value", type=int, default=64, help="value bytes")
    ap.add_argument("--think", type=float, default=0.0, help="ms: random pause 0-MS after each reply")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    import random
    import select
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((a.host, a.port))
    s.setblocking(False)

    def recv_all():
        got = []
        while True:
            try:
                got.append(s.recv(4096))
            except BlockingIOError:
                return got
            except OSError:  # ICMP port unreachable from an earlier datagram: not there yet
                continue

    def send(data):
        try:
            s.send(data)
        except OSError:
            pass  # ECONNREFUSED left by an ICMP error, ENOBUFS: the resend timer covers it

    # 1. readiness: the first request also resolves ARP
    t0 = time.monotonic()
    ready = False
    while not ready and time.monotonic() - t0 < a.ready_timeout:
        send(b"ready STATS")
        select.select([s], [], [], 0.2)
        ready = any(r.startswith(b"ready ") for r in recv_all())
    if not ready:
        print(json.dumps({"error": f"kvd at {a.host}:{a.port} did not answer within {a.ready_timeout:g} s"}))
        return 3
    ready_s = time.monotonic() - t0
    # 2. closed loop
    pad = "x" * max(0, a.value)
    outstanding = {}  # id -> [slot, kind, key, value, t_first, t_last]
    due = {}          # slot -> when its next request is sent (--think)
    last_set = {}
    seq = [0] * a.clients
    t_meas = time.monotonic() + a.warmup
    t_end = t_meas + a.seconds
    lat, counts = [], {"completed_in_window": 0, "retries": 0, "stale": 0, "errors": 0, "mismatches": 0}

    def issue(slot, now):
        n = seq[slot]
        seq[slot] += 1
        key = f"b{slot}k{(n // 2) % 512}"
        rid = f"{slot}.{n}"
        if n % 2 == 0:
            value = (f"v{n}-" + pad)[:a.value]
            body = f"SET {key} {value}"
            outstanding[rid] = [slot, "SET", key, value, now, now]
        else:
            body = f"GET {key}"
            outstanding[rid] = [slot, "GET", key, None, now, now]
        send(f"{rid} {body}".encode())

    now = time.monotonic()
    for slot in range(a.clients):
        issue(slot, now)
    while outstanding or due:
        now = time.monotonic()
        if now >= t_end:
            # drain: wait for the requests sent in the window, drop the warm-up's
            due.clear()
            for rid in [r for r, o in outstanding.items() if o[4] < t_meas]:
                del outstanding[rid]
            if not outstanding or now > t_end + 3 * a.timeout:
                break
        for slot in [sl for sl, t in due.items() if t <= now]:
            del due[slot]
            issue(slot, now)
        wait = min([o[5] + a.timeout for o in outstanding.values()] + list(due.values())) - now
        if now < t_end:
            wait = min(wait, t_end - now)
        select.select([s], [], [], max(0.0, wait))
        for raw in recv_all():
            t = time.monotonic()
            rid, _, rest = raw.decode(errors="replace").rstrip("\n").partition(" ")
            o = outstanding.pop(rid, None)
            if o is None:
                counts["stale"] += 1
                continue
            slot, kind, key, value, t_first, _ = o
            reply, _, arg = rest.partition(" ")
            if kind == "SET":
                if reply == "OK":
                    last_set[key] = value
                else:
                    counts["errors"] += 1
            elif reply == "VALUE":
                if key in last_set and arg != last_set[key]:
                    counts["mismatches"] += 1
            elif reply != "NOTFOUND" or key in last_set:
                counts["errors"] += 1
            if t_meas <= t_first < t_end:
                lat.append((t - t_first) * 1e6)
            if t_meas <= t < t_end:
                counts["completed_in_window"] += 1
            if t < t_end:
                if a.think > 0:
                    due[slot] = t + random.uniform(0.0, a.think / 1000.0)
                else:
                    issue(slot, t)
        now = time.monotonic()
        for rid, o in outstanding.items():
            if now - o[5] >= a.timeout:
                o[5] = now
                counts["retries"] += 1
                send(f"{rid} {o[1]} {o[2]}".encode() + (f" {o[3]}".encode() if o[1] == "SET" else b""))
    counts["unanswered"] = len(outstanding)
    with open(a.out, "w") as fh:
        fh.write("\n".join(f"{x:.1f}" for x in lat) + ("\n" if lat else ""))
    print(json.dumps(dict(counts, samples=len(lat), window_s=a.seconds, ready_s=round(ready_s, 3))))
    return 0


def netns_list():
    try:
        p = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [l.split()[0] for l in p.stdout.splitlines() if l.strip()]


def netns_remove(name):
    """tools/netns-down NAME (removes tap0 and the namespace), then `ip netns del` if it is still listed."""
    subprocess.run([os.path.join(ROOT, "tools", "netns-down"), name], capture_output=True, timeout=30)
    if name in netns_list():
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def netns_remove_stale():
    """Namespaces of benchmarks that no longer run (killed with SIGKILL): removed."""
    for name in netns_list():
        m = re.fullmatch(NETNS_PREFIX + r"(\d+)-\d+", name)
        if m and int(m.group(1)) != os.getpid() and not os.path.exists(f"/proc/{m.group(1)}"):
            netns_remove(name)


def net_unavailable():
    """Why the network phase cannot run here, or None."""
    if not shutil.which("ip"):
        return "'ip' not found (apt-get install -y iproute2)"
    if os.geteuid() != 0:
        return "not root: network namespaces and tap devices need root (CAP_NET_ADMIN)"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing (modprobe tun)"
    return None


# ---------------------------------------------------------------------------------------------
# progress bar


class Progress:
    def __init__(self, total, est_total):
        self.total = total
        self.done = 0
        self.est_total = max(est_total, 1.0)
        self.est_done = 0.0
        self.t0 = self.t_last = time.monotonic()
        self.point = ""
        self.phase = ""
        self.tty = sys.stderr.isatty()
        self.last_plain = ""
        self.lock = threading.Lock()
        self.timer = None
        if self.tty:
            self.timer = threading.Thread(target=self._tick, daemon=True)
            self.timer.start()

    def _tick(self):
        while not STOP.is_set():
            time.sleep(1)
            self.draw()

    def eta(self):
        now = time.monotonic()
        if self.est_done <= 0:
            return max(0.0, self.est_total - (now - self.t0))
        speed = (self.t_last - self.t0) / self.est_done  # actual seconds per estimated second
        return max(0.0, (self.est_total - self.est_done) * speed - (now - self.t_last))

    def set(self, point=None, phase=None):
        if point is not None:
            self.point = point
        if phase is not None:
            self.phase = phase
        self.draw()

    def finish_one(self, est):
        self.done += 1
        self.est_done += est
        self.t_last = time.monotonic()
        self.draw()

    def line(self):
        frac = self.done / self.total if self.total else 1.0
        width = 24
        fill = int(frac * width)
        bar = "#" * fill + "." * (width - fill)
        return (f"[{bar}] {self.done}/{self.total} done, running {self.done + 1 if self.done < self.total else self.total}: "
                f"{self.point} | {self.phase} | elapsed {fmt_secs(time.monotonic() - self.t0)}, ETA {fmt_secs(self.eta())}")

    def draw(self):
        with self.lock:
            if self.tty:
                cols = shutil.get_terminal_size((120, 20)).columns
                sys.stderr.write("\r\x1b[K" + self.line()[:cols - 1])
                sys.stderr.flush()
            else:
                key = (self.done, self.point, self.phase)
                if key != self.last_plain:
                    self.last_plain = key
                    sys.stderr.write(self.line() + "\n")
                    sys.stderr.flush()

    def note(self, msg):
        with self.lock:
            if self.tty:
                sys.stderr.write("\r\x1b[K")
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()
        self.draw()

    def close(self):
        with self.lock:
            if self.tty:
                sys.stderr.write("\r\x1b[K" + self.line()[:shutil.get_terminal_size((120, 20)).columns - 1] + "\n")
                sys.stderr.flush()
            self.tty = False


# ---------------------------------------------------------------------------------------------
# the benchmark


def qemu_start(args, qsock):
    """Starts QEMU (`args`) with QMP on the unix socket `qsock`; returns (proc, monitor) once QMP answers."""
    try:
        os.unlink(qsock)
    except FileNotFoundError:
        pass
    proc = Proc(args + ["-qmp", f"unix:{qsock},server=on,wait=off"])
    try:
        mon = Monitor(qsock, proc)
        mon._line()  # greeting
        mon.qmp("qmp_capabilities")
    except BaseException:
        proc.kill()
        raise
    return proc, mon


def qemu_quit(proc, mon):
    """Asks QEMU to quit and waits for it."""
    try:
        mon.qmp("quit")
    except (PhaseError, OSError):
        pass
    proc.wait(20)


class Bench:
    def __init__(self, cfg, out, progress=None):
        self.cfg = cfg
        self.out = out
        self.vmm = cfg["vmm"]
        # A vmm that kills itself when the bench dies is spawned by vfork, with no Python
        # code run in the child: the cold-start figure then counts the vmm's start, not ours.
        try:
            helptext = subprocess.run([self.vmm, "run", "--help"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            helptext = ""
        self.exit_with_parent = "--exit-with-parent" in helptext
        self.accel = cfg.get("accel", "auto")
        # QEMU runs on the same kind of CPU as the vmm: KVM, or its TCG where the vmm uses its software CPU.
        self.qemu_accel = "tcg" if self.accel == "tcg" or (self.accel == "auto" and not os.access("/dev/kvm", os.R_OK | os.W_OK)) \
            else "kvm"
        self.guest = cfg["guest"]
        self.progress = progress
        self.work = tempfile.mkdtemp(prefix="hsls-bench-", dir=cfg["nvm_dir"])
        self.seq = 0
        self.netns_live = set()  # network namespaces of ours that exist now
        self.netns_count = 0
        self.net_skip = None     # why the network phase cannot run here (then every point skips it)
        # Private copies: a rebuild of build/ during a long run must not change what is measured.
        for k in ("vmm", "guest"):
            dst = os.path.join(self.work, os.path.basename(cfg[k]))
            shutil.copy2(cfg[k], dst)
            setattr(self, k, dst)

    def cleanup(self):
        for p in list(Proc.registry):
            p.kill()
        for name in list(self.netns_live):
            netns_remove(name)
            self.netns_live.discard(name)
        shutil.rmtree(self.work, ignore_errors=True)

    def phase(self, text):
        if self.progress:
            self.progress.set(phase=text)

    def note(self, text):
        if self.progress:
            self.progress.note(text)
        else:
            print(text, file=sys.stderr)

    def own_pids(self):
        return {os.getpid()} | {p.pid for p in Proc.registry}

    def wait_idle(self):
        limit = self.cfg["wait_idle"]
        if limit <= 0:
            return
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            c0 = cpu_times()
            sleep(1)
            other, _ = contention(c0, cpu_times())
            vms = foreign_load(self.own_pids())
            if not vms and (other is None or other <= CONTENDED_PCT):
                return
            self.phase(f"waiting for the host to calm down (other VMs: {', '.join(vms) or 'none'}; "
                       f"other processes use {other:.0f}% CPU)")

    def paths(self):
        self.seq += 1
        base = os.path.join(self.work, f"r{self.seq}")
        return base + ".nvm", base + ".sock"

    @staticmethod
    def remove_nvm(nvm):
        for f in (nvm, nvm + ".digests"):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass

    def vmm_args(self, p, nvm, sock, cmdline, ckpt=True, fresh=True, restart=False, extra=()):
        a = [self.vmm, "run"] + (["--exit-with-parent"] if self.exit_with_parent else []) + ["--accel", self.accel, "--nvm", nvm, "--memory", p["memory"], "--vcpus", str(p["vcpus"]),
             "--monitor", sock, "--cmdline", cmdline, "--log-level", "info"]
        if fresh:
            a.append("--fresh")
        if ckpt:
            a += ["--ckpt-interval", f"{p['interval']:g}", "--ckpt-policy", p["policy"], "--persistence", p["persistence"]]
        else:
            a.append("--no-ckpt")
        if restart:
            a.append("--power-restart")
        a += list(extra)
        a.append(self.guest)
        return a

    @staticmethod
    def skew(p):
        hot, hotpct = (int(x) for x in str(p["skew"]).split("/"))
        return hot, hotpct

    def working_set(self, p):
        """Pages memstress writes in the pause run: 10 x dirty, capped at a quarter of RAM and 16384 pages
        (the guest commits them one fault at a time, ~0.3 ms each here)."""
        d = int(p["dirty"])
        cap = min(16384, parse_size(p["memory"]) // 4096 // 4)
        return max(16, min(10 * d, cap))

    def rate(self, p):
        return int(round(int(p["dirty"]) * 1000.0 / float(p["interval"])))

    def pause_cmdline(self, p):
        hot, hotpct = self.skew(p)
        v = int(p["vcpus"])
        progs = []
        if int(p["dirty"]) > 0:
            threads = max(1, v - 1)
            progs.append(f"memstress:pages={self.working_set(p)},rate={self.rate(p)},hot={hot},hotpct={hotpct},"
                         f"threads={threads},report=0")
        if v >= 2:
            progs.append(f"clock:cpu={v - 1}")
        elif int(p["dirty"]) == 0:
            progs.append("clock")
        return "init=" + ";".join(progs)

    def overhead_cmdline(self, p):
        hot, hotpct = self.skew(p)
        return (f"init=memstress:pages={int(p['dirty'])},rate=0,hot={hot},hotpct={hotpct},"
                f"threads={int(p['vcpus'])},report=0")

    def estimate(self, p):
        """Rough seconds a point takes (for the ETA)."""
        c = self.cfg
        boot = 0.6
        commit = self.working_set(p) * 0.0004 if int(p["dirty"]) else 0
        t = 0.0
        if c.get("net_only"):
            return t + 2 * c["net_reps"] * (boot + 1.0 + c["net_warmup"] + c["net_seconds"] + 0.5 +
                                            (commit if self.net_load(p) else 0))
        t += boot + commit + c["warmup"] + c["duration"] + c["recoveries"] * 0.4 + 0.5
        if c["cold"]:
            t += 1.0
        if int(p["vcpus"]) == 1 and int(p["dirty"]) > 0:
            t += boot + c["warmup"] + min(c["duration"], 2.0)
        if int(p["dirty"]) > 0:
            t += boot + c["warmup"] + 2 * c["overhead_pairs"] * (c["overhead_window"] + 0.02)
            if c["no_ckpt_check"]:
                t += boot + c["warmup"] + c["overhead_pairs"] * c["overhead_window"]
        if c.get("net"):
            t += 2 * c["net_reps"] * (boot + 1.0 + c["net_warmup"] + c["net_seconds"] + 0.5)
            if self.net_load(p):
                t += 2 * c["net_reps"] * commit
        return t

    def net_load(self, p):
        """Does the network phase run the point's memstress beside kvd? auto: with 2+ vCPUs (kvd is not pinned
        and a wake-up does not preempt, so on 1 vCPU it would wait for memstress's 10 ms time slices)."""
        v = self.cfg.get("net_load", "auto")
        if int(p["dirty"]) == 0 or v in ("off", False):
            return False
        return v in ("on", True) or int(p["vcpus"]) >= 2

    def net_cmdline(self, p):
        progs = [f"kvd:ip={GUEST_IP},port={KVD_PORT}"]
        if self.net_load(p):
            hot, hotpct = self.skew(p)
            progs.append(f"memstress:pages={self.working_set(p)},rate={self.rate(p)},hot={hot},hotpct={hotpct},"
                         f"threads={max(1, int(p['vcpus']) - 1)},report=0")
        return "init=" + ";".join(progs)

    # -- one point --------------------------------------------------------------------------

    def run_point(self, p):
        r = {"kind": "point", "key": point_key(p)}
        r.update({a: p[a] for a in AXES})
        r["working_set"] = self.working_set(p) if int(p["dirty"]) else 0
        r["rate"] = self.rate(p) if int(p["dirty"]) else 0
        r["duration_s"] = self.cfg["duration"]
        r["errors"] = []
        need = parse_size(p["memory"]) * 3.2 + (64 << 20)
        free = shutil.disk_usage(self.cfg["nvm_dir"]).free
        if free < need:
            r["errors"].append(f"skipped: {self.cfg['nvm_dir']} has {free >> 20} MiB free, the NVM file needs ~{int(need) >> 20} MiB")
            return r
        self.wait_idle()
        r["host_load_before"] = loadavg()
        seen = set(foreign_load(self.own_pids()))
        t0 = time.monotonic()
        c0 = cpu_times()
        phases = [] if self.cfg.get("net_only") else [("pause", self.phase_pause)]
        if int(p["vcpus"]) == 1 and int(p["dirty"]) > 0 and not self.cfg.get("net_only"):
            phases.append(("clock", self.phase_clock_alone))
        if int(p["dirty"]) > 0 and not self.cfg.get("net_only"):
            phases.append(("overhead", self.phase_overhead))
        if self.cfg.get("net"):
            phases.append(("net", self.phase_net))
        for name, fn in phases:
            check_stop()
            try:
                fn(p, r, seen)
            except PhaseError as e:
                r["errors"].append(f"{name}: {e}")
            finally:
                for pr in list(Proc.registry):
                    pr.kill()
        seen |= set(foreign_load(self.own_pids()))
        r["host_load_after"] = loadavg()
        r["other_vms_seen"] = ";".join(sorted(seen))
        r["other_cpu_pct"], r["steal_pct"] = contention(c0, cpu_times())
        r["elapsed_s"] = round(time.monotonic() - t0, 1)
        return r

    def start_vmm(self, args):
        proc = Proc(args)
        return proc

    def wait_memstress(self, proc, timeout=90):
        proc.wait_line(r"memstress: started", timeout)

    def memstress_report(self, proc, mon):
        n = proc.count()
        rep = mon.cmd("serial memstress report")
        if not rep.get("ok"):
            raise PhaseError(f"serial memstress report: {rep}")
        m, t = proc.wait_line(r"memstress: writes/s=(\d+) .*total=(\d+)", 10, start=n)
        return int(m.group(1)), int(m.group(2)), t

    def sample_ckpt(self, mon, duration, interval_ms, seen):
        """Measures `duration` seconds of checkpoints; returns (first, last reply, samples by version).

        A vmm that answers `info ckpt since=V` keeps the statistics of every checkpoint itself: it is
        asked twice a second only to see that it runs, and once at the end for the window's summary
        (no samples). Polling more often is what an older vmm needs: every poll wakes the monitor
        thread and this process beside the vCPU, and the sampled checkpoint is the one after a poll."""
        samples = {}
        first = mon.cmd("info ckpt")
        if not first.get("ok") or not first.get("enabled", True):
            raise PhaseError(f"info ckpt: {first}")
        since = f"info ckpt since={first.get('committed_version', 0)}"
        whole = mon.cmd(since).get("ok", False)
        if whole:
            period = 0.5
        elif duration * 1000.0 / interval_ms >= 1100:
            # Enough checkpoints for the summary's last 1000: polls only sample the breakdown, so rarely.
            period = 0.05
        else:
            # Otherwise sample most checkpoints (every 0.8 x interval; each poll costs the host ~0.3 ms).
            period = min(max(interval_ms * 0.8, 8.0), 200.0) / 1000.0
        end = time.monotonic() + duration
        last = first
        n = 0
        while time.monotonic() < end:
            sleep(min(period, max(0.0, end - time.monotonic())))
            if whole and time.monotonic() >= end:
                break  # the window's summary below is the last poll
            last = mon.cmd("info ckpt")
            lr = last.get("last")
            if not whole and lr and lr.get("version", 0) > first.get("committed_version", 0):
                samples[lr["version"]] = lr
            n += 1
            if n % 50 == 0 or whole:
                seen |= set(foreign_load(self.own_pids()))
        if whole:
            last = mon.cmd(since)
        return first, last, samples

    def phase_pause(self, p, r, seen):
        nvm, sock = self.paths()
        args = self.vmm_args(p, nvm, sock, self.pause_cmdline(p), restart=True)
        r["pause_cmdline"] = self.pause_cmdline(p)
        self.phase("pause: booting")
        proc = self.start_vmm(args)
        try:
            mon = Monitor(sock, proc)
            if int(p["dirty"]) > 0:
                self.phase(f"pause: memstress commits {self.working_set(p)} pages")
                self.wait_memstress(proc)
            has_clock = int(p["vcpus"]) >= 2 or int(p["dirty"]) == 0
            if has_clock:
                proc.wait_line(r"clock: started", 30)
            sleep(self.cfg["warmup"])
            if has_clock:
                n = proc.count()
                mon.cmd("serial clock reset")
                proc.wait_line(r"clock: reset", 10, start=n)
            if int(p["dirty"]) > 0:
                self.memstress_report(proc, mon)
            self.phase(f"pause: measuring {self.cfg['duration']:g}s")
            first, last, samples = self.sample_ckpt(mon, self.cfg["duration"], float(p["interval"]), seen)
            if has_clock:
                n = proc.count()
                mon.cmd("serial clock report")
                m, _ = proc.wait_line(r"clock: max_gap_us=(\d+) gaps>(\d+)us=(\d+) samples=(\d+) top_us=(\S+)", 10, start=n)
                after = mon.cmd("info ckpt")
                self.fill_clock(r, m, after["committed_version"] - first["committed_version"],
                                "clock pinned to the last vCPU, memstress on the others" if int(p["dirty"]) else "clock alone")
            if int(p["dirty"]) > 0:
                ws, _, _ = self.memstress_report(proc, mon)
                r["pause_run_writes_s"] = ws
                r["memstress_rate_pct"] = rnd(100.0 * ws / self.rate(p), 1)
            self.fill_ckpt(r, first, last, samples)
            # In-process power failures: the VM recovers inside the same vmm.
            times, pages = [], []
            for i in range(self.cfg["recoveries"]):
                self.phase(f"pause: power failure {i + 1}/{self.cfg['recoveries']}")
                before = mon.cmd("info ckpt")
                rep = mon.cmd("powerfail restart")
                if not rep.get("ok"):
                    raise PhaseError(f"powerfail restart: {rep}")
                ev = mon.wait_event("recovered", 30)
                times.append(float(ev["restore_ms"]))
                pages.append(int(ev.get("pages_restored", 0)))
                # the guest runs again: a checkpoint newer than the recovered one commits
                deadline = time.monotonic() + 10
                while True:
                    sleep(max(0.005, float(p["interval"]) / 1000))
                    c = mon.cmd("info ckpt")
                    if c.get("ok") and c.get("committed_version", 0) > ev["version"]:
                        break
                    if time.monotonic() > deadline:
                        raise PhaseError(f"no checkpoint after recovery {i + 1} (committed {c.get('committed_version')})")
                sleep(0.2)
            if times:
                r["recovery_restore_ms_p50"] = rnd(median(times), 3)
                r["recovery_restore_ms_max"] = rnd(max(times), 3)
                r["recovery_pages_restored_p50"] = median(pages)
                r["recovery_count"] = len(times)
            mon.close()
            if self.cfg["cold"]:
                self.phase("cold start: SIGKILL and restart on the same NVM")
                sleep(0.05)
                proc.kill(signal.SIGKILL)
                self.cold_start(p, r, nvm, seen)
        finally:
            proc.kill()
            self.remove_nvm(nvm)

    def cold_start(self, p, r, nvm, seen):
        _, sock = self.paths()
        args = self.vmm_args(p, nvm, sock, self.pause_cmdline(p), fresh=False)
        proc = self.start_vmm(args)
        try:
            m, t = proc.wait_line(r"resumed checkpoint (\d+) .*state loaded in ([\d.]+) ms", 30, stream="err")
            r["cold_start_to_resumed_ms"] = rnd((t - proc.t_spawn) * 1000, 2)
            r["cold_restore_ms"] = float(m.group(2))
            since = re.search(r"\(([\d.]+) ms since vmm started(?:, ([\d.]+) ms since its process began)?\)", m.string)
            if since:  # the vmm's own figures: from its static initialisation, and from its process's beginning
                r["cold_since_vmm_started_ms"] = float(since.group(1))  # (exec, loading: the CPU time before main)
                if since.group(2):
                    r["cold_since_process_began_ms"] = float(since.group(2))
            version = int(m.group(1))
            mon = Monitor(sock, proc)
            deadline = time.monotonic() + 10
            while True:
                c = mon.cmd("info ckpt")
                if c.get("ok") and c.get("committed_version", 0) > version:
                    r["cold_start_to_first_ckpt_ms"] = rnd((time.monotonic() - proc.t_spawn) * 1000, 2)
                    break
                if time.monotonic() > deadline:
                    raise PhaseError("cold start: no checkpoint committed after the recovery")
                time.sleep(0.001)
            mon.cmd("quit")
            proc.wait(20)
            mon.close()
        finally:
            proc.kill()

    def phase_clock_alone(self, p, r, seen):
        nvm, sock = self.paths()
        proc = self.start_vmm(self.vmm_args(p, nvm, sock, "init=clock"))
        try:
            self.phase("clock alone: booting")
            mon = Monitor(sock, proc)
            proc.wait_line(r"clock: started", 30)
            sleep(self.cfg["warmup"])
            n = proc.count()
            mon.cmd("serial clock reset")
            proc.wait_line(r"clock: reset", 10, start=n)
            first = mon.cmd("info ckpt")
            self.phase("clock alone: measuring")
            sleep(min(self.cfg["duration"], 2.0))
            n = proc.count()
            mon.cmd("serial clock report")
            m, _ = proc.wait_line(r"clock: max_gap_us=(\d+) gaps>(\d+)us=(\d+) samples=(\d+) top_us=(\S+)", 10, start=n)
            after = mon.cmd("info ckpt")
            self.fill_clock(r, m, after["committed_version"] - first["committed_version"],
                            "clock alone on the only vCPU (memstress would share it)")
            s = after.get("summary", {})
            if "pages_dirty" in s:
                r["guest_pause_run_dirty_p50"] = s["pages_dirty"]["p50"]
                r["guest_pause_run_stw_p50_us"] = s["pause_us"]["p50"]
            mon.cmd("quit")
            proc.wait(20)
        finally:
            proc.kill()
            self.remove_nvm(nvm)

    def phase_overhead(self, p, r, seen):
        """One vmm run at the point's interval; windows with checkpoints on and off alternate (ABBA): 'off' =
        `set ckpt-interval 1000`, re-armed every 0.4 s so that no checkpoint is taken (dirty logging stays
        armed but is never cleared, so it costs nothing after the first write to each page). Then, as a
        cross-check, one run with --no-ckpt (between runs the host's speed varies more than the effect)."""
        pairs, win = self.cfg["overhead_pairs"], self.cfg["overhead_window"]
        order = []
        for i in range(pairs):
            order += [True, False] if i % 2 == 0 else [False, True]
        r["overhead_cmdline"] = self.overhead_cmdline(p)
        iv = f"{float(p['interval']):g}"
        nvm, sock = self.paths()
        self.phase("overhead: booting")
        proc = self.start_vmm(self.vmm_args(p, nvm, sock, self.overhead_cmdline(p)))
        on, off = [], []
        try:
            mon = Monitor(sock, proc)
            self.wait_memstress(proc)
            sleep(self.cfg["warmup"])
            # Each report gives writes/s since the previous one (memstress restarts its count when the last
            # report is more than 0.25 s old), so the windows are back to back: switch, wait, report.
            self.memstress_report(proc, mon)
            for i, ck in enumerate(order):
                check_stop()
                self.phase(f"overhead: window {i + 1}/{len(order)}, checkpoints {'on' if ck else 'off'}")
                rep = mon.cmd(f"set ckpt-interval {iv if ck else '1000'}")
                if not rep.get("ok"):
                    raise PhaseError(f"set ckpt-interval: {rep}")
                c0 = mon.cmd("info ckpt")["committed_version"]
                end = time.monotonic() + win
                while time.monotonic() < end:
                    sleep(min(0.4, max(0.0, end - time.monotonic())))
                    if not ck and time.monotonic() < end:
                        mon.cmd("set ckpt-interval 1000")
                ws, _, _ = self.memstress_report(proc, mon)
                n = mon.cmd("info ckpt")["committed_version"] - c0
                if ck:
                    on.append(ws)
                else:
                    if n > 1:  # one may have been under way when the interval changed
                        raise PhaseError(f"{n} checkpoints were taken in an 'off' window")
                    off.append(ws)
            mon.cmd(f"set ckpt-interval {iv}")
            sleep(max(0.1, 3 * float(p["interval"]) / 1000))
            c = mon.cmd("info ckpt")
            s = c.get("summary", {})
            if "pause_us" in s:
                r["overhead_pause_p50_us"] = rnd(s["pause_us"]["p50"], 1)
                r["overhead_dirty_p50"] = s["pages_dirty"]["p50"]
            mon.cmd("quit")
            proc.wait(20)
        finally:
            proc.kill()
            self.remove_nvm(nvm)
        r["tput_on_runs"] = ";".join(str(x) for x in on)
        r["tput_off_runs"] = ";".join(str(x) for x in off)
        if on and off and sum(off):
            r["tput_on"] = round(mean(on))
            r["tput_off"] = round(mean(off))
            r["overhead_pct"] = rnd(100.0 * (1.0 - sum(on) / sum(off)), 2)
            per = [100.0 * (1.0 - a / b) for a, b in zip(on, off) if b]
            if len(per) >= 2:
                r["overhead_pct_stderr"] = rnd(statistics.stdev(per) / math.sqrt(len(per)), 2)
                r["overhead_pct_median_pair"] = rnd(median(per), 2)
        if self.cfg["no_ckpt_check"]:
            check_stop()
            nvm, sock = self.paths()
            self.phase("overhead: cross-check run with --no-ckpt")
            proc = self.start_vmm(self.vmm_args(p, nvm, sock, self.overhead_cmdline(p), ckpt=False))
            try:
                mon = Monitor(sock, proc)
                self.wait_memstress(proc)
                sleep(self.cfg["warmup"])
                self.memstress_report(proc, mon)
                sleep(win * pairs)
                ws, _, _ = self.memstress_report(proc, mon)
                r["tput_no_ckpt_run"] = ws
                if on:
                    r["overhead_vs_no_ckpt_run_pct"] = rnd(100.0 * (1.0 - mean(on) / ws), 2) if ws else None
                mon.cmd("quit")
                proc.wait(20)
            finally:
                proc.kill()
                self.remove_nvm(nvm)

    # -- network ------------------------------------------------------------------------------

    def phase_net(self, p, r, seen):
        """kvd in a private network namespace; a closed-loop client inside it; external synchrony on and off in
        separate vmm runs, alternating (on, off, off, on, ...) when --net-reps > 1."""
        if self.net_skip is None:
            self.net_skip = net_unavailable() or ""
            if self.net_skip:
                self.note(f"bench: network phase skipped: {self.net_skip}")
            else:
                netns_remove_stale()
        if self.net_skip:
            r["net_note"] = f"skipped: {self.net_skip}"
            return
        self.netns_count += 1
        ns = f"{NETNS_PREFIX}{os.getpid()}-{self.netns_count}"
        self.phase(f"net: making network namespace {ns}")
        self.netns_live.add(ns)  # also if netns-up fails half-way
        try:
            up = subprocess.run([os.path.join(ROOT, "tools", "netns-up"), ns], capture_output=True, text=True,
                                timeout=30, stdin=subprocess.DEVNULL)
            if up.returncode != 0:
                why = (up.stderr.strip().splitlines() or [f"exit {up.returncode}"])[-1]
                self.net_skip = f"tools/netns-up failed: {why}"
                r["net_note"] = f"skipped: {self.net_skip}"
                self.note(f"bench: network phase skipped: {self.net_skip}")
                return
            r["net_cmdline"] = self.net_cmdline(p)
            r["net_load"] = self.net_load(p)
            r["net_clients"] = self.cfg["net_clients"]
            r["net_seconds"] = self.cfg["net_seconds"]
            r["net_think_ms"] = float(self.cfg["net_think"])
            order = []
            for i in range(self.cfg["net_reps"]):
                order += [True, False] if i % 2 == 0 else [False, True]
            runs = []
            for i, sync in enumerate(order):
                check_stop()
                runs.append(self.net_run(p, ns, sync, f"run {i + 1}/{len(order)}"))
        finally:
            netns_remove(ns)
            self.netns_live.discard(ns)
        cdf = {}
        for sync, mode in ((True, "sync"), (False, "nosync")):
            rs = [x for x in runs if x["sync"] == sync]
            lat = sorted(v for x in rs for v in x["lat"])
            cdf[mode] = lat
            r[f"net_samples_{mode}"] = len(lat)
            for q in (50, 99):
                r[f"net_p{q}_us_{mode}"] = rnd(pct(lat, q), 1)
            r[f"net_max_us_{mode}"] = rnd(lat[-1], 1) if lat else None
            r[f"net_min_us_{mode}"] = rnd(lat[0], 1) if lat else None
            r[f"net_mean_us_{mode}"] = rnd(mean(lat), 1)
            win = sum(x["window_s"] for x in rs)
            r[f"net_rps_{mode}"] = rnd(sum(x["completed_in_window"] for x in rs) / win, 1) if win else None
            r[f"net_rps_runs_{mode}"] = ";".join(f"{x['completed_in_window'] / x['window_s']:.1f}" for x in rs)
            r[f"net_p50_us_runs_{mode}"] = ";".join(f"{pct(x['lat'], 50) or 0:.0f}" for x in rs)
            for k in ("retries", "stale", "errors", "mismatches", "unanswered"):
                r[f"net_{k}_{mode}"] = sum(x[k] for x in rs)
            for k in ("hold_p50_us", "hold_p99_us", "pause_p50_us", "pause_p99_us", "ckpts_per_s"):
                r[f"net_{k}_{mode}"] = rnd(median([x.get(k) for x in rs]), 1)
            hm = [x["hold_max_us"] for x in rs if x.get("hold_max_us") is not None]
            r[f"net_hold_max_us_{mode}"] = max(hm) if hm else None
            r[f"net_hold_samples_{mode}"] = sum(x.get("hold_samples") or 0 for x in rs)
            r[f"net_tx_frames_{mode}"] = sum(x.get("tx_frames") or 0 for x in rs)
            bad = r[f"net_mismatches_{mode}"] + r[f"net_errors_{mode}"]
            if bad:
                r["errors"].append(f"net ({mode}): {r[f'net_mismatches_{mode}']} GETs returned another value than the "
                                   f"last acknowledged SET, {r[f'net_errors_{mode}']} unexpected replies")
        if cdf["sync"] or cdf["nosync"]:
            os.makedirs(os.path.join(self.out, "net-cdf"), exist_ok=True)
            rel = os.path.join("net-cdf", net_slug(p) + ".dat")
            with open(os.path.join(self.out, rel), "w") as fh:
                fh.write(f"# {point_key(p)}: request latency quantiles (us); fraction sync_on sync_off; "
                         f"{len(cdf['sync'])} and {len(cdf['nosync'])} requests\n")
                for i in range(1001):
                    q = i / 1000.0
                    row = [nearest(cdf[m], q) for m in ("sync", "nosync")]
                    fh.write(f"{q:.3f} " + " ".join("nan" if v is None else f"{v:.1f}" for v in row) + "\n")
            r["net_cdf_file"] = rel

    def net_run(self, p, ns, sync, label):
        """One vmm run with kvd in namespace `ns` and one client run; returns the client's latencies and counters,
        and the VMM's hold times and checkpoint pauses from that run."""
        mode = "external synchrony " + ("on" if sync else "off")
        nvm, sock = self.paths()
        extra = ["--net-tap", TAP] + ([] if sync else ["--no-external-sync"])
        args = ["ip", "netns", "exec", ns] + self.vmm_args(p, nvm, sock, self.net_cmdline(p), extra=extra)
        iv = float(p["interval"])
        timeout = max(1.0, 4 * iv / 1000 + 0.5)
        self.phase(f"net {label}: booting kvd, {mode}")
        proc = Proc(args, name="vmm")
        client = None
        latf = nvm + ".lat"
        try:
            mon = Monitor(sock, proc)
            proc.wait_line(r"kvd: listening on", 60)
            if self.net_load(p):
                self.wait_memstress(proc)
            c0 = mon.cmd("info ckpt")
            self.phase(f"net {label}: client {self.cfg['net_seconds']:g} s, {mode}")
            client = Proc(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "_net-client",
                           "--seconds", f"{self.cfg['net_seconds']:g}", "--warmup", f"{self.cfg['net_warmup']:g}",
                           "--clients", str(self.cfg["net_clients"]), "--timeout", f"{timeout:g}",
                           "--value", str(self.cfg["net_value"]), "--think", f"{float(self.cfg['net_think']):g}",
                           "--out", latf], name="net client")
            t0 = time.monotonic()
            limit = 30 + self.cfg["net_warmup"] + self.cfg["net_seconds"] + 3 * timeout + 10
            while client.p.poll() is None:
                sleep(0.1)
                if proc.p.poll() is not None:
                    raise PhaseError(f"vmm exited ({proc.p.returncode}) while the client ran: {proc.tail()}")
                if time.monotonic() - t0 > limit:
                    raise PhaseError(f"the client did not finish within {limit:.0f} s")
            code = client.wait(5)
            client.threads[0].join(2)
            lines = client.text().strip().splitlines()
            try:
                res = json.loads(lines[-1]) if lines else {}
            except json.JSONDecodeError:
                res = {}
            if code != 0 or "error" in res or "samples" not in res:
                raise PhaseError(f"net client ({mode}) exited {code}: {res.get('error') or client.tail()}")
            with open(latf) as fh:
                res["lat"] = [float(x) for x in fh.read().split()]
            res["sync"] = sync
            t1 = time.monotonic()
            c1 = mon.cmd("info ckpt")
            net = mon.cmd("info net")
            if not net.get("ok") or not net.get("enabled"):
                raise PhaseError(f"info net: {net}")
            if bool(net.get("external_sync")) != sync:
                raise PhaseError(f"info net says external_sync={net.get('external_sync')}, asked {sync}")
            if net.get("needs_reset") or net.get("malformed"):
                raise PhaseError(f"the network device failed: needs_reset={net.get('needs_reset')} "
                                 f"malformed={net.get('malformed')}")
            h = net.get("hold_us") or {}
            res.update(hold_samples=h.get("samples"), hold_p50_us=h.get("p50"), hold_p99_us=h.get("p99"),
                       hold_max_us=h.get("max"), tx_frames=net.get("tx_frames"), rx_frames=net.get("rx_frames"))
            s = c1.get("summary", {})
            if "pause_us" in s:
                res["pause_p50_us"] = s["pause_us"]["p50"]
                res["pause_p99_us"] = s["pause_us"]["p99"]
            if c1.get("committed_version") is not None and c0.get("committed_version") is not None:
                res["ckpts_per_s"] = (c1["committed_version"] - c0["committed_version"]) / max(1e-3, t1 - t0)
            mon.cmd("quit")
            proc.wait(20)
            mon.close()
            return res
        finally:
            if client:
                client.kill()
            proc.kill()
            self.remove_nvm(nvm)
            try:
                os.unlink(latf)
            except FileNotFoundError:
                pass

    # -- filling in results --------------------------------------------------------------------

    @staticmethod
    def fill_clock(r, m, ckpts, how):
        r["guest_pause_max_us"] = int(m.group(1))
        r["guest_gap_threshold_us"] = int(m.group(2))
        r["guest_gaps_over_threshold"] = int(m.group(3))
        r["guest_clock_samples"] = int(m.group(4))
        top = [int(x) for x in m.group(5).split(",") if x.isdigit()]
        r["guest_pause_top_us"] = ";".join(str(x) for x in top)
        r["guest_pause_8th_us"] = top[7] if len(top) >= 8 else None
        r["guest_ckpts_in_window"] = ckpts
        r["guest_pause_how"] = how

    def fill_ckpt(self, r, first, last, samples):
        s = last.get("summary", {})
        window = last["committed_version"] - first["committed_version"]
        r["ckpts_in_window"] = window
        r["ckpts_per_s"] = rnd(window / float(self.cfg["duration"]), 1)
        r["ckpts_sampled"] = len(samples)
        r["policy_reported"] = last.get("policy")
        vals = list(samples.values())

        def col(k):
            return [float(x[k]) for x in vals if k in x]

        # Best: the vmm's statistics of every checkpoint in the window (`info ckpt since=`).
        whole = s.get("since_version") is not None and s.get("complete") and s.get("count", 0) > 0
        use_summary = whole or (window >= s.get("count", 0) and s.get("count", 0) >= 1000)
        if whole:
            r["pause_source"] = f"all {s.get('count')} checkpoints of the window"
        elif use_summary:
            r["pause_source"] = f"summary of the last {s.get('count')} checkpoints"
        else:
            r["pause_source"] = f"{len(vals)} of {window} checkpoints sampled"
        for k, name in (("pause_us", "pause"), ("pages_dirty", "pages_dirty"), ("pages_copied", "pages_copied"),
                        ("pages_protected", "pages_protected"), ("pages_leased", "pages_leased"), ("nvm_bytes", "nvm_bytes"),
                        ("cow_faults", "cow_faults")):
            unit = "_us" if k == "pause_us" else ""
            if use_summary and k in s:
                r[f"{name}_p50{unit}"] = rnd(s[k]["p50"], 1)
                r[f"{name}_p99{unit}"] = rnd(s[k]["p99"], 1)
                r[f"{name}_max{unit}"] = rnd(s[k]["max"], 1)
            else:
                v = col(k)
                r[f"{name}_p50{unit}"] = rnd(pct(v, 50), 1)
                r[f"{name}_p99{unit}"] = rnd(pct(v, 99), 1)
                r[f"{name}_max{unit}"] = rnd(max(v) if v else None, 1)
            r[f"{name}_mean{unit}"] = rnd(s[k]["mean"] if whole and k in s else mean(col(k)), 1)
        for part in PARTS:
            k = f"{part}_us"
            r[f"{part}_mean_us"] = rnd(s[k]["mean"] if whole and k in s else mean(col(k)), 2)
            r[f"{part}_p50_us"] = rnd(s[k]["p50"], 2) if use_summary and k in s else rnd(pct(col(k), 50), 2)
        if whole:
            r["cow_faults_per_ckpt"] = rnd(s["cow_faults"]["mean"], 2) if "cow_faults" in s else None
            r["cow_fault_avg_us"] = rnd(s.get("cow_fault_avg_us"), 2) if r["cow_faults_per_ckpt"] else None
            r["cow_fault_max_us"] = rnd(s.get("cow_fault_max_us"), 1)
        else:
            faults = sum(col("cow_faults"))
            r["cow_faults_per_ckpt"] = rnd(faults / len(vals), 2) if vals else None
            r["cow_fault_avg_us"] = rnd(sum(x.get("cow_fault_avg_us", 0) * x.get("cow_faults", 0) for x in vals) / faults, 2) if faults else None
            r["cow_fault_max_us"] = rnd(max(col("cow_fault_max_us")), 1) if vals else None
        r["nvm_kib_per_ckpt"] = rnd(r["nvm_bytes_mean"] / 1024, 1) if r.get("nvm_bytes_mean") is not None else None
        # per checkpoint: the pause plus the copy-on-write work of its epoch
        if r.get("pause_mean_us") is not None:
            r["ckpt_work_mean_us"] = rnd(r["pause_mean_us"] + (r["cow_faults_per_ckpt"] or 0) * (r["cow_fault_avg_us"] or 0), 1)

    # -- QEMU baseline ------------------------------------------------------------------------

    def qemu_cmdline(self, combo):
        d = self.cfg["qemu_dirty"]
        ws = max(16, 10 * d)
        v = int(combo["vcpus"])
        progs = [f"memstress:pages={ws},rate={d * 100},threads={max(1, v - 1)},report=0"]
        return "init=" + ";".join(progs) + f" cpus={v}"

    def run_qemu(self, combo):
        r = {"kind": "qemu", "key": f"qemu|memory={combo['memory']}|vcpus={combo['vcpus']}",
             "memory": combo["memory"], "vcpus": combo["vcpus"], "errors": []}
        qemu = self.cfg["qemu_bin"]
        if not shutil.which(qemu):
            r["errors"].append(f"{qemu} not found (apt-get install -y qemu-system-x86)")
            return r
        self.wait_idle()
        r["host_load_before"] = loadavg()
        seen = set(foreign_load(self.own_pids()))
        c0 = cpu_times()
        cmdline = self.qemu_cmdline(combo)
        r["cmdline"] = cmdline
        try:
            r["qemu_version"] = subprocess.run([qemu, "--version"], capture_output=True, text=True,
                                               timeout=10).stdout.splitlines()[0]
        except Exception as e:  # noqa: BLE001
            r["qemu_version"] = f"? ({e})"
        snap = os.path.join(self.work, "qemu-snap.bin")
        r["accel"] = self.qemu_accel
        base = [qemu, "-accel", self.qemu_accel, "-M", "microvm", "-m", combo["memory"], "-smp", str(combo["vcpus"]),
                "-nographic", "-no-reboot", "-nodefaults", "-kernel", self.guest, "-append", cmdline,
                "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "stdio", "-monitor", "none"]
        qsock = os.path.join(self.work, "qmp.sock")
        # snapshot-save needs a qcow2 node for the VM state (an internal snapshot, as `savevm`)
        qcow = os.path.join(self.work, "qemu-snap.qcow2")
        snap_args = []
        qemu_img = os.path.join(os.path.dirname(shutil.which(qemu)), "qemu-img")
        try:
            subprocess.run([qemu_img if os.path.exists(qemu_img) else "qemu-img", "create", "-q", "-f", "qcow2", qcow,
                            "64M"], check=True, capture_output=True, timeout=30)
            snap_args = ["-blockdev", f"driver=file,filename={qcow},node-name=snapfile",
                         "-blockdev", "driver=qcow2,file=snapfile,node-name=snapdisk"]
        except (OSError, subprocess.SubprocessError) as e:
            hint = " (apt-get install -y qemu-utils)" if isinstance(e, FileNotFoundError) else ""
            r["errors"].append(f"snapshot-save: no qcow2 file for its VM state ({e}){hint}")
        try:
            self.phase("qemu: booting")
            proc, mon = qemu_start(base + snap_args, qsock)
            try:
                proc.wait_line(r"memstress: started", 60)
                sleep(self.cfg["warmup"])
                reps = self.cfg["qemu_reps"]
                kinds = [("full", "live migrate to a file"), ("stopped", "stop, migrate to a file, cont")]
                if snap_args:
                    kinds.append(("savevm", "stop, snapshot-save, cont"))
                kinds.append(("bg", "background snapshot (userfaultfd write-protect)"))
                for kind, desc in kinds:
                    totals, downs, evdowns, setups, sizes = [], [], [], [], []
                    try:
                        if kind == "bg":
                            mon.qmp("migrate-set-capabilities",
                                    capabilities=[{"capability": "background-snapshot", "state": True}])
                        for i in range(reps):
                            self.phase(f"qemu: {desc} {i + 1}/{reps}")
                            mon.events.clear()
                            if kind in ("stopped", "savevm"):
                                t_stop = time.monotonic()
                                mon.qmp("stop")
                            if kind == "savevm":
                                st = self.qemu_snapshot_save(mon, f"s{i}")
                            else:
                                mon.qmp("migrate", uri=f"exec:cat > {snap}")
                                st = self.qemu_wait_migration(mon)
                            t_done = time.monotonic()
                            status = mon.qmp("query-status")
                            if status.get("status") != "running":
                                mon.qmp("cont")
                            t_cont = time.monotonic()
                            if kind in ("stopped", "savevm"):
                                totals.append((t_cont - t_stop) * 1000)
                                downs.append((t_cont - t_stop) * 1000)
                            else:
                                totals.append(float(st.get("total-time", 0)))
                                downs.append(float(st.get("downtime", 0)))
                            setups.append(float(st.get("setup-time", 0)))
                            written = qcow if kind == "savevm" else snap
                            sizes.append(os.path.getsize(written) if os.path.exists(written) else 0)
                            stops = [e["_t"] for e in mon.events if e.get("event") == "STOP"]
                            if stops and kind == "full":
                                # STOP event -> migration seen completed (includes up to one poll period)
                                evdowns.append((t_done - stops[0]) * 1000)
                            sleep(0.3)
                        r[f"{kind}_total_ms"] = rnd(median(totals), 2)
                        r[f"{kind}_total_ms_all"] = ";".join(f"{x:g}" for x in totals)
                        r[f"{kind}_downtime_ms"] = rnd(median(downs), 2)
                        r[f"{kind}_setup_ms"] = rnd(median(setups), 2)
                        r[f"{kind}_file_bytes"] = int(median(sizes)) if sizes else None
                        if evdowns:
                            r[f"{kind}_stop_to_done_ms"] = rnd(median(evdowns), 2)
                    except PhaseError as e:
                        r["errors"].append(f"{desc}: {e}")
                    finally:
                        if kind == "bg":
                            try:
                                mon.qmp("migrate-set-capabilities",
                                        capabilities=[{"capability": "background-snapshot", "state": False}])
                            except PhaseError:
                                pass
                r["guest_alive"] = "memstress" in proc.text()
                qemu_quit(proc, mon)
            finally:
                proc.kill()
            # restore: a new QEMU loads the last full snapshot from the file
            if os.path.exists(snap) and os.path.getsize(snap) > 0:
                self.phase("qemu: restore from the snapshot file")
                self.qemu_restore(base, qsock, snap, r)
            self.qemu_throughput(base, combo, qsock, snap, r)
        except PhaseError as e:
            r["errors"].append(str(e))
        finally:
            for pr in list(Proc.registry):
                pr.kill()
            for path in (snap, qcow):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        seen |= set(foreign_load(self.own_pids()))
        r["other_vms_seen"] = ";".join(sorted(seen))
        r["other_cpu_pct"], r["steal_pct"] = contention(c0, cpu_times())
        r["host_load_after"] = loadavg()
        return r

    def qemu_snapshot_save(self, mon, tag, timeout=120):
        """QMP snapshot-save of the VM state into the qcow2 node `snapdisk` (a job), waited for and dismissed."""
        job = f"save-{tag}"
        mon.qmp("snapshot-save", **{"job-id": job, "tag": tag, "vmstate": "snapdisk", "devices": ["snapdisk"]})
        deadline = time.monotonic() + timeout
        while True:
            jobs = [j for j in mon.qmp("query-jobs") if j.get("id") == job]
            if jobs and jobs[0].get("status") == "concluded":
                mon.qmp("job-dismiss", id=job)
                if jobs[0].get("error"):
                    raise PhaseError(f"snapshot-save failed: {jobs[0]['error']}")
                return {}
            if time.monotonic() > deadline:
                raise PhaseError("snapshot-save did not complete")
            sleep(0.002)

    def qemu_wait_migration(self, mon, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            st = mon.qmp("query-migrate")
            s = st.get("status")
            if s == "completed":
                return st
            if s in ("failed", "cancelled"):
                raise PhaseError(f"migration {s}: {st.get('error-desc', '')}")
            if time.monotonic() > deadline:
                raise PhaseError("migration did not complete")
            sleep(0.002)

    def qemu_throughput(self, base, combo, qsock, snap, r):
        """Unthrottled memstress in QEMU, as the overhead phase runs it in the vmm: its writes/s undisturbed,
        then while QEMU takes stopped snapshots back to back (QEMU's best checkpoint rate, and what the guest
        keeps meanwhile)."""
        d = int(self.cfg["qemu_dirty"])
        v = int(combo["vcpus"])
        args = list(base)
        args[args.index("-append") + 1] = f"init=memstress:pages={d},rate=0,threads={v} cpus={v}"
        seconds = 5.0
        self.phase("qemu: unthrottled memstress")
        try:
            proc, mon = qemu_start(args, qsock)
        except PhaseError as e:
            r["errors"].append(f"throughput: {e}")
            return
        rx = re.compile(r"memstress: writes/s=(\d+)")

        def reports(since):
            with proc.lock:
                return [int(m.group(1)) for t, l in proc.lines["out"] if t >= since for m in [rx.search(l)] if m]
        try:
            proc.wait_line(r"memstress: started", 60)
            sleep(self.cfg["warmup"] + 1.1)  # the first report covers start-up
            t0 = time.monotonic()
            sleep(seconds)
            runs = reports(t0)
            if runs:
                r["tput_writes_per_s"] = int(median(runs))
                r["tput_runs"] = ";".join(str(x) for x in runs)
            self.phase("qemu: stopped snapshots back to back")
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < seconds:
                mon.qmp("stop")
                mon.qmp("migrate", uri=f"exec:cat > {snap}")
                self.qemu_wait_migration(mon)
                mon.qmp("cont")
                n += 1
            t1 = time.monotonic()
            sleep(1.1)  # the report that covers the last snapshots
            runs = reports(t0 + 1.0)
            r["b2b_snapshots_per_s"] = rnd(n / (t1 - t0), 2)
            if runs:
                r["b2b_writes_per_s"] = int(median(runs))
            qemu_quit(proc, mon)
        except PhaseError as e:
            r["errors"].append(f"throughput: {e}")
        finally:
            proc.kill()

    def qemu_restore(self, base, qsock, snap, r):
        times = []
        for i in range(self.cfg["qemu_reps"]):
            check_stop()
            try:
                proc, mon = qemu_start(base + ["-incoming", "defer"], qsock)
            except PhaseError as e:
                r["errors"].append(f"restore: {e}")
                break
            try:
                mon.qmp("migrate-incoming", uri=f"exec:cat {snap}")
                deadline = time.monotonic() + 60
                while True:
                    status = mon.qmp("query-status").get("status")
                    if status == "running":
                        break
                    if status in ("paused", "postmigrate", "prelaunch") and \
                            mon.qmp("query-migrate").get("status") == "completed":
                        mon.qmp("cont")
                        break
                    if time.monotonic() > deadline:
                        raise PhaseError(f"incoming migration did not complete (status {status})")
                    sleep(0.002)
                times.append((time.monotonic() - proc.t_spawn) * 1000)
                qemu_quit(proc, mon)
            except PhaseError as e:
                r["errors"].append(f"restore: {e}")
                break
            finally:
                proc.kill()
        if times:
            r["restore_ms"] = rnd(median(times), 2)
            r["restore_ms_all"] = ";".join(f"{x:.1f}" for x in times)


# ---------------------------------------------------------------------------------------------
# configuration


def comma_list(s, conv=str):
    return [conv(x.strip()) for x in str(s).split(",") if x.strip()]


def load_config(args):
    cfg = dict(DEFAULTS)
    if args.tiny:
        cfg.update(TINY)
    if args.config:
        if tomllib is None:
            sys.exit("bench: --config needs Python 3.11+ (tomllib)")
        with open(args.config, "rb") as f:
            t = tomllib.load(f)
        for section in ("matrix", "run"):
            for k, v in t.get(section, {}).items():
                k = k.replace("-", "_")
                if k not in cfg and k not in ("vmm", "guest", "qemu_bin", "qemu_dirty", "accel"):
                    sys.exit(f"bench: {args.config}: unknown key {section}.{k}")
                cfg[k] = v if section == "run" or isinstance(v, list) else [v]
    conv = {"memory": str, "vcpus": int, "dirty": int, "skew": str, "policy": str, "interval": float,
            "persistence": str}
    for a in AXES:
        v = getattr(args, a)
        if v is not None:
            cfg[a] = comma_list(v, conv[a])
        cfg[a] = [conv[a](x) for x in cfg[a]]
    for k in ("duration", "warmup", "overhead_pairs", "overhead_window", "recoveries", "wait_idle", "nvm_dir",
              "qemu_reps", "qemu_dirty"):
        v = getattr(args, k)
        if v is not None:
            cfg[k] = v
    if args.qemu is not None:
        cfg["qemu"] = args.qemu
    if args.net is not None:
        cfg["net"] = args.net
    if args.net_only:
        cfg["net_only"] = True
    if cfg["net_only"]:
        cfg["net"] = True
    for k in ("net_seconds", "net_warmup", "net_reps", "net_clients", "net_load", "net_value", "net_think"):
        v = getattr(args, k)
        if v is not None:
            cfg[k] = v
    if isinstance(cfg["net_load"], bool):  # TOML: net_load = true / false
        cfg["net_load"] = "on" if cfg["net_load"] else "off"
    if args.no_cold:
        cfg["cold"] = False
    if args.no_ckpt_check is not None:
        cfg["no_ckpt_check"] = args.no_ckpt_check
    if cfg.get("qemu_dirty") is None:
        nz = [d for d in cfg["dirty"] if d > 0]
        cfg["qemu_dirty"] = min(nz) if nz else 100
    cfg["vmm"] = os.path.abspath(args.vmm or cfg.get("vmm") or os.path.join(ROOT, "build/vmm/vmm"))
    cfg["accel"] = args.accel or cfg.get("accel") or "auto"
    cfg["guest"] = os.path.abspath(args.guest or cfg.get("guest") or os.path.join(ROOT, "build/guest/guest.img"))
    cfg["qemu_bin"] = args.qemu_bin or cfg.get("qemu_bin") or "qemu-system-x86_64"
    validate(cfg)
    return cfg


def validate(cfg):
    def bad(msg):
        sys.exit(f"bench: {msg}")

    for m in cfg["memory"]:
        n = parse_size(m)
        if not (16 << 20) <= n <= (64 << 30) or n % (2 << 20):
            bad(f"memory {m!r}: 16M-64G, a multiple of 2M")
    for v in cfg["vcpus"]:
        if not 1 <= v <= 8:
            bad(f"vcpus {v}: 1-8")
    for d in cfg["dirty"]:
        if not 0 <= d <= 100000:
            bad(f"dirty {d}: 0-100000 pages per epoch")
    for s in cfg["skew"]:
        if not re.fullmatch(r"\d{1,3}/\d{1,3}", str(s)) or any(int(x) > 100 for x in str(s).split("/")):
            bad(f"skew {s!r}: HOT/HOTPCT, e.g. 10/90 (10% of the pages get 90% of the writes)")
    for p in cfg["policy"]:
        if p not in POLICIES:
            bad(f"policy {p!r}: one of {', '.join(POLICIES)}")
    for i in cfg["interval"]:
        if not 0.5 <= i <= 1000:
            bad(f"interval {i}: 0.5-1000 ms")
    for p in cfg["persistence"]:
        if p not in ("eadr", "adr"):
            bad(f"persistence {p!r}: eadr or adr")
    if cfg["duration"] <= 0 or cfg["overhead_pairs"] < 0 or cfg["recoveries"] < 0:
        bad("duration must be > 0, overhead-pairs and recoveries >= 0")
    if cfg["overhead_window"] < 0.3:
        bad("overhead-window: at least 0.3 s (memstress measures over at least 0.25 s)")
    if not isinstance(cfg["net"], bool):
        bad(f"net {cfg['net']!r}: true or false")
    if not cfg["net_seconds"] > 0 or cfg["net_warmup"] < 0:
        bad("net-seconds must be > 0 and net-warmup >= 0")
    if not 1 <= int(cfg["net_reps"]) <= 100 or not 1 <= int(cfg["net_clients"]) <= 64:
        bad("net-reps: 1-100; net-clients: 1-64")
    if cfg["net_load"] not in ("auto", "on", "off"):
        bad(f"net-load {cfg['net_load']!r}: auto, on or off")
    if not 0 <= float(cfg["net_think"]) <= 10000:
        bad(f"net-think {cfg['net_think']}: 0-10000 ms")
    if not 0 <= int(cfg["net_value"]) <= 1024:
        bad(f"net-value {cfg['net_value']}: 0-1024 bytes")
    for k in ("vmm", "guest"):
        if not os.path.exists(cfg[k]):
            bad(f"{k} {cfg[k]} does not exist (build with: ninja -C build)")


def points_of(cfg):
    pts = []
    for memory in cfg["memory"]:
        for vcpus in cfg["vcpus"]:
            for persistence in cfg["persistence"]:
                for skew in cfg["skew"]:
                    for dirty in cfg["dirty"]:
                        for interval in cfg["interval"]:
                            for policy in cfg["policy"]:
                                pts.append({"memory": memory, "vcpus": vcpus, "dirty": dirty, "skew": skew,
                                            "policy": policy, "interval": interval, "persistence": persistence})
    return pts


def qemu_combos(cfg):
    if not cfg["qemu"]:
        return []
    return [{"memory": m, "vcpus": v} for m in cfg["memory"] for v in cfg["vcpus"]]


def host_info(cfg):
    h = {"hostname": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            h["cpu_model"] = m.group(1) if m else "?"
        with open("/proc/meminfo") as f:
            h["mem_total_gib"] = round(int(re.search(r"MemTotal:\s*(\d+)", f.read()).group(1)) / (1 << 20), 1)
    except OSError:
        pass
    h["kvm_flavour"] = "PVM (kvm_pvm: nested, no VMX/SVM, shadow paging; each exit ~25 us)" \
        if os.path.isdir("/sys/module/kvm_pvm") else \
        ("VMX (kvm_intel)" if os.path.isdir("/sys/module/kvm_intel") else
         ("SVM (kvm_amd)" if os.path.isdir("/sys/module/kvm_amd") else "unknown"))
    import hashlib
    for k in ("vmm", "guest"):
        with open(cfg[k], "rb") as fh:
            h[f"{k}_sha256"] = hashlib.sha256(fh.read()).hexdigest()[:16]
    for name, cmd in (("vmm_version", [cfg["vmm"], "--version"]),
                      ("git", ["git", "-C", ROOT, "describe", "--always", "--dirty"]),
                      ("gnuplot", ["gnuplot", "--version"])):
        try:
            h[name] = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip() or "?"
        except (OSError, subprocess.TimeoutExpired):
            h[name] = None
    return h


# ---------------------------------------------------------------------------------------------
# output: csv, summary, plots

POINT_COLS = ["memory", "vcpus", "dirty", "skew", "policy", "interval", "persistence", "working_set", "rate",
              "ckpts_in_window", "ckpts_sampled", "pause_source",
              "pages_dirty_p50", "pages_dirty_p99", "pause_p50_us", "pause_p99_us", "pause_max_us", "pause_mean_us"] + \
             [f"{p}_mean_us" for p in PARTS] + [f"{p}_p50_us" for p in PARTS] + \
             ["pages_copied_p50", "pages_protected_p50", "pages_leased_p50", "cow_faults_per_ckpt", "cow_fault_avg_us", "cow_fault_max_us",
              "nvm_bytes_p50", "nvm_bytes_mean", "nvm_kib_per_ckpt", "ckpt_work_mean_us",
              "guest_pause_max_us", "guest_pause_8th_us", "guest_pause_top_us", "guest_gap_threshold_us",
              "guest_gaps_over_threshold", "guest_ckpts_in_window", "guest_pause_how",
              "pause_run_writes_s", "memstress_rate_pct", "tput_on", "tput_off", "overhead_pct", "overhead_pct_stderr",
              "overhead_pct_median_pair", "tput_on_runs", "tput_off_runs",
              "tput_no_ckpt_run", "overhead_vs_no_ckpt_run_pct",
              "overhead_dirty_p50", "overhead_pause_p50_us",
              "recovery_restore_ms_p50", "recovery_restore_ms_max", "recovery_pages_restored_p50", "recovery_count",
              "cold_restore_ms", "cold_since_vmm_started_ms", "cold_since_process_began_ms", "cold_start_to_resumed_ms", "cold_start_to_first_ckpt_ms",
              "qemu_ratio_pause_p50_to_full_downtime", "qemu_ratio_pause_max_to_bg_downtime",
              "qemu_ratio_ckpt_to_full_total", "qemu_ratio_ckpt_to_bg_total", "qemu_ratio_cold_to_restore",
              "qemu_ratio_stopped_to_pause_p50", "qemu_ratio_savevm_to_pause_p50", "qemu_ratio_tput_off",
              "qemu_ratio_tput_on", "ckpts_per_s", "net_load", "net_clients", "net_seconds", "net_think_ms"] + \
             [f"net_{k}_{m}" for m in ("sync", "nosync")
              for k in ("p50_us", "p99_us", "max_us", "min_us", "mean_us", "rps", "samples", "rps_runs", "p50_us_runs",
                        "retries", "unanswered", "stale", "errors", "mismatches", "hold_p50_us", "hold_p99_us",
                        "hold_max_us", "hold_samples", "tx_frames", "pause_p50_us", "pause_p99_us", "ckpts_per_s")] + \
             ["net_cmdline", "net_cdf_file", "net_note",
              "host_load_before", "host_load_after", "other_vms_seen", "other_cpu_pct", "steal_pct", "elapsed_s", "errors"]
QEMU_COLS = ["memory", "vcpus", "accel", "cmdline", "tput_writes_per_s", "tput_runs", "b2b_snapshots_per_s",
             "b2b_writes_per_s", "full_total_ms", "full_downtime_ms", "full_setup_ms", "full_stop_to_done_ms",
             "full_file_bytes", "full_total_ms_all", "stopped_total_ms", "stopped_total_ms_all",
             "savevm_total_ms", "savevm_total_ms_all", "bg_total_ms",
             "bg_downtime_ms", "bg_setup_ms", "bg_total_ms_all", "restore_ms", "restore_ms_all", "qemu_version",
             "host_load_before", "host_load_after", "other_vms_seen", "other_cpu_pct", "steal_pct", "errors"]


def read_results(out):
    res = []
    path = os.path.join(out, "results.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        res.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass  # a line torn by a kill: that point is redone
    return res


def add_ratios(r, qemu):
    q = qemu.get((r["memory"], int(r["vcpus"])))
    if not q:
        return

    def ratio(a, b, scale=1.0):
        return rnd(a / (b * scale), 4) if a is not None and b else None

    # our figures in us, QEMU's in ms
    r["qemu_ratio_pause_p50_to_full_downtime"] = ratio(r.get("pause_p50_us"), q.get("full_downtime_ms"), 1000)
    r["qemu_ratio_pause_max_to_bg_downtime"] = ratio(r.get("pause_max_us"), q.get("bg_downtime_ms"), 1000)
    r["qemu_ratio_ckpt_to_full_total"] = ratio(r.get("ckpt_work_mean_us"), q.get("full_total_ms"), 1000)
    r["qemu_ratio_ckpt_to_bg_total"] = ratio(r.get("ckpt_work_mean_us"), q.get("bg_total_ms"), 1000)
    r["qemu_ratio_cold_to_restore"] = ratio(r.get("cold_start_to_resumed_ms"), q.get("restore_ms"))
    # how many times shorter our pause is than QEMU's stopped snapshot; our unthrottled memstress / QEMU's
    r["qemu_ratio_stopped_to_pause_p50"] = ratio(q.get("stopped_total_ms"), r.get("pause_p50_us"), 0.001)
    r["qemu_ratio_savevm_to_pause_p50"] = ratio(q.get("savevm_total_ms"), r.get("pause_p50_us"), 0.001)
    r["qemu_ratio_tput_off"] = ratio(r.get("tput_off"), q.get("tput_writes_per_s"))
    r["qemu_ratio_tput_on"] = ratio(r.get("tput_on"), q.get("tput_writes_per_s"))


def write_csv(path, rows, cols):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow(["; ".join(r[c]) if isinstance(r.get(c), list) else ("" if r.get(c) is None else r.get(c))
                        for c in cols])


def f(x, nd=0, unit=""):
    if x is None or x == "":
        return "–"
    if isinstance(x, float) and nd == 0 and abs(x) < 10 and x != int(x):
        nd = 1
    return f"{x:.{nd}f}{unit}" if isinstance(x, (int, float)) else str(x)


def verdicts(points, BAR=BAR):
    """The performance bar `BAR`, point by point: (criterion, point, measured, bar, verdict)."""
    rows = []
    near = sorted((p for p in points
                   if parse_size(p["memory"]) == 256 << 20 and int(p["dirty"]) == 100 and not p.get("skipped")),
                  key=lambda p: (int(p["vcpus"]), p["policy"], float(p["interval"])))

    def label(p):
        return f"{p['policy']}, {p['vcpus']} vCPU, {p['interval']:g} ms, {p['persistence']}"

    def verdict(v, limit):
        return "–" if v is None else ("PASS" if v <= limit else "FAIL")

    for p in near:
        if int(p["vcpus"]) == 1:
            rows.append((f"pause p50 ≤ {BAR['pause_p50_1']:g} us (1 vCPU)", label(p), f(p.get("pause_p50_us"), 0, " us"),
                         f"{BAR['pause_p50_1']:g} us", verdict(p.get("pause_p50_us"), BAR["pause_p50_1"])))
            rows.append((f"pause p99 ≤ {BAR['pause_p99_1']:g} us (1 vCPU)", label(p), f(p.get("pause_p99_us"), 0, " us"),
                         f"{BAR['pause_p99_1']:g} us", verdict(p.get("pause_p99_us"), BAR["pause_p99_1"])))
        elif int(p["vcpus"]) == 2:
            rows.append((f"pause p50 ≤ {BAR['pause_p50_2']:g} us (2 vCPUs)", label(p), f(p.get("pause_p50_us"), 0, " us"),
                         f"{BAR['pause_p50_2']:g} us", verdict(p.get("pause_p50_us"), BAR["pause_p50_2"])))
    for p in near:
        iv = float(p["interval"])
        if iv in (1.0, 10.0):
            limit = BAR["overhead_1ms"] if iv == 1.0 else BAR["overhead_10ms"]
            rows.append((f"overhead at {iv:g} ms ≤ {limit:g}%", label(p), f(p.get("overhead_pct"), 1, "%"), f"{limit:g}%",
                         verdict(p.get("overhead_pct"), limit)))
    if BAR.get("below_qemu_stopped"):
        x = BAR["below_qemu_stopped"]
        for p in near:
            for key, how in (("qemu_ratio_stopped_to_pause_p50", "stop, migrate to a file, cont"),
                             ("qemu_ratio_savevm_to_pause_p50", "stop, snapshot-save, cont")):
                v = p.get(key)
                if v is not None:
                    rows.append((f"QEMU's stopped snapshot ({how}) / pause p50 ≥ {x:g}x", label(p), f(v, 0, "x"),
                                 f"{x:g}x", "PASS" if v >= x else "FAIL"))
    rec = [p for p in points if parse_size(p["memory"]) == 256 << 20]
    for v in sorted({int(p["vcpus"]) for p in rec}):
        # (figure, criterion, how it was taken, decimals)
        for key, criterion, how, digits in (
                ("cold_since_process_began_ms", "recovery ≤ 10 ms, vmm start → guest running",
                 "cold starts, the vmm's clock from its process's beginning", 1),
                ("cold_start_to_resumed_ms", "recovery, the bench's spawn → log line read",
                 "cold starts (with forking the Python bench and reading the pipe)", 1),
                ("cold_since_vmm_started_ms", "recovery ≤ 10 ms, the vmm's own \"since vmm started\"", "cold starts", 1),
                ("recovery_restore_ms_p50", "recovery ≤ 10 ms, in-process restore_ms", "points", 2)):
            xs = [p.get(key) for p in rec if int(p["vcpus"]) == v and p.get(key) is not None]
            if xs:
                of = "over" if how == "points" else "of"
                rows.append((f"{criterion} ({v} vCPU)", f"median {of} {len(xs)} {how}",
                             f"{median(xs):.{digits}f} ms (max {max(xs):.{digits}f})", "10 ms",
                             verdict(median(xs), BAR["recovery_ms"])))
    return rows


CONTENDED_PCT = 10


def guest_8th(p):
    """The 8th largest gap; fewer than 8 gaps over the threshold means the 8th is below it."""
    if p.get("guest_pause_8th_us") is not None:
        return f(p["guest_pause_8th_us"])
    if p.get("guest_pause_max_us") is not None:
        return f"< {p.get('guest_gap_threshold_us', 100)}"
    return "–"


def is_contended(p):
    return bool(p.get("other_vms_seen")) or (p.get("other_cpu_pct") or 0) > CONTENDED_PCT


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out)


def write_summary(out, cfg, host, points, qemus, plots_note, interrupted, total_points):
    L = []
    L.append("# hypersls checkpoint benchmark\n")
    n_pts, n_q = total_points
    L.append(f"Generated {datetime.datetime.now().isoformat(timespec='seconds')} by `tools/bench/bench.py`: "
             f"{len(points)} of {n_pts} points" + (f" and {len(qemus)} of {n_q} QEMU baselines" if n_q else "") +
             " finished" + (f" (stopped early; resume with `--resume {out}`)" if interrupted else "") + ".\n")
    L.append("Command: `" + " ".join(cfg.get("argv", [])) + "`\n")
    L.append("## Host\n")
    L.append(md_table(["what", "value"], [(k, v) for k, v in host.items()]))
    L.append("\nOn a PVM host every exit to the VMM costs ~25 us and ring 0 is emulated (~1 us per "
             "instruction): absolute figures are several times those of a bare-metal VMX host; compare ratios.\n")
    contended = [p for p in points if is_contended(p)]
    if contended:
        L.append(f"**{len(contended)} of {len(points)} point(s) ran while other processes used more than "
                 f"{CONTENDED_PCT}% of this {host.get('cpus')}-core host or other VMs ran** (marked † below, with the "
                 "share in `other_cpu_pct`); their figures include that contention.\n")
    bar = bar_for(cfg.get("accel", "auto"))
    L.append(f"## Performance bar (issue {bar['issue']}: 256 MiB guest, ~100 pages dirtied per epoch)\n")
    v = verdicts(points, bar)
    if v:
        L.append(md_table(["criterion", "point", "measured", "bar", "verdict"], v))
    else:
        L.append("No point of this run matches the bar's configuration (256M, dirty=100).")
    L.append("")
    L.append("## Stop-the-world pause\n")
    L.append("dirty = target pages per epoch (memstress rate = dirty × 1000 / interval over 10 × dirty pages); "
             "measured = `pages_dirty` p50 from `info ckpt`. Guest-visible = the guest's `clock` program: "
             "largest gap and 8th largest gap of its TSC loop over the window. Pause figures: every checkpoint of "
             "the window, from the vmm's own statistics (`info ckpt since=VERSION`, asked at the window's end; the "
             "monitor is asked twice a second meanwhile, as each poll disturbs the vCPU's caches).\n")
    rows = []
    for p in points:
        mark = " †" if is_contended(p) else ""
        rows.append((f"{p['memory']}", p["vcpus"], p["policy"] + mark, f"{float(p['interval']):g}", p["persistence"],
                     p["dirty"], f(p.get("pages_dirty_p50")), f(p.get("pages_leased_p50")), f(p.get("pause_p50_us")),
                     f(p.get("pause_p99_us")),
                     f(p.get("pause_max_us")), guest_8th(p), f(p.get("guest_pause_max_us")),
                     f(p.get("cow_faults_per_ckpt"), 1), f(p.get("cow_fault_avg_us"), 1), f(p.get("nvm_kib_per_ckpt"), 0),
                     f(p.get("memstress_rate_pct"), 0), f(p.get("ckpts_in_window")), f(p.get("other_cpu_pct"), 0)))
    L.append(md_table(["mem", "vCPUs", "policy", "interval ms", "persist", "dirty", "measured dirty p50", "leased p50",
                       "pause p50 us",
                       "p99 us", "max us", "guest 8th us", "guest max us", "CoW faults/ckpt", "CoW fault us",
                       "NVM KiB/ckpt", "memstress % of rate", "ckpts", "other CPU %"], rows))
    srcs = sorted({"all" if str(p.get("pause_source", "")).startswith("all ") else "sampled" for p in points if p.get("pause_source")})
    L.append(f"\n### Pause breakdown (mean us per checkpoint; {' / '.join(srcs) or 'sampled'})\n")
    rows = []
    for p in points:
        rows.append((p["memory"], p["vcpus"], p["policy"], f"{float(p['interval']):g}", p["dirty"]) +
                    tuple(f(p.get(f"{x}_mean_us"), 1) for x in PARTS) + (f(p.get("pause_mean_us"), 1),))
    L.append(md_table(["mem", "vCPUs", "policy", "interval", "dirty"] + PARTS + ["pause"], rows))
    L.append("\n## Runtime overhead and recovery\n")
    L.append("Overhead: unthrottled memstress over `dirty` pages (so each epoch dirties about all of them) in one "
             "vmm run; windows with checkpoints on (the point's interval) and off (`set ckpt-interval 1000`, re-armed "
             "before it fires: no checkpoint, dirty logging armed but never cleared) alternate ABBA; overhead = "
             "1 − Σwrites/s(on) / Σwrites/s(off), ± the standard error over the pairs. Cross-check: one separate run "
             "with `--no-ckpt` (separate runs differ by up to ~15% on this shared host, so this one is noisy). "
             "Recovery: `powerfail restart` in process (restore_ms of the `recovered` event, from the start of the "
             "machine's reconstruction) and a cold start after SIGKILL (the vmm's own clock, from its process's beginning (the CPU time before main: fork, exec, loading) to the \"resumed checkpoint\" log line, printed as the vCPUs start; and the bench's spawn → that line, which adds forking the bench's Python process and reading the pipe; "
             "→ first checkpoint after it, i.e. the guest ran one epoch).\n")
    rows = []
    for p in points:
        ov = f(p.get("overhead_pct"), 1, "%")
        if p.get("overhead_pct_stderr") is not None:
            ov += f" ± {p['overhead_pct_stderr']:.1f}"
        rows.append((p["memory"], p["vcpus"], p["policy"], f"{float(p['interval']):g}", p["dirty"],
                     f(p.get("tput_off")), f(p.get("tput_on")), ov, f(p.get("overhead_vs_no_ckpt_run_pct"), 1, "%"),
                     f(p.get("overhead_dirty_p50")), f(p.get("recovery_restore_ms_p50"), 2),
                     f(p.get("recovery_pages_restored_p50")), f(p.get("cold_restore_ms"), 2),
                     f(p.get("cold_since_vmm_started_ms"), 2), f(p.get("cold_since_process_began_ms"), 2),
                     f(p.get("cold_start_to_resumed_ms"), 1), f(p.get("cold_start_to_first_ckpt_ms"), 1)))
    L.append(md_table(["mem", "vCPUs", "policy", "interval", "dirty", "writes/s off", "writes/s on", "overhead",
                       "vs --no-ckpt run", "dirty p50 (on)", "restore ms (in-process)", "pages restored",
                       "cold: state loaded ms", "cold: since vmm started ms", "cold: since process began ms",
                       "cold: spawn→resumed ms",
                       "cold: spawn→first ckpt ms"], rows))
    L.append("\n## Network: kvd with external synchrony on and off\n")
    net_pts = [p for p in points if p.get("net_samples_sync") is not None or p.get("net_note")]
    if not cfg.get("net"):
        L.append("Not run (`--net` to enable).")
    elif not net_pts:
        L.append("Not measured yet.")
    else:
        L.append("The guest's `kvd` (UDP key-value server) on virtio-net, in a private network namespace; a closed-loop "
                 f"client inside it keeps {cfg.get('net_clients')} request(s) outstanding, alternating SET and GET, " +
                 (f"waiting a random 0-{float(cfg.get('net_think')):g} ms after each reply, " if cfg.get("net_think")
                  else "") +
                 f"for {cfg.get('net_seconds'):g} s per run. on = external synchrony (a reply leaves the VMM once the "
                 "checkpoint holding it has committed), off = `--no-external-sync`. Latency = client send → reply, "
                 "us; req/s = replies per second in the window; hold = how long the VMM held transmitted frames "
                 "(`info net`, last 4096 frames of the run); pause = the checkpoint pause p50 of that run; period = "
                 "the mean time between checkpoints in the run with synchrony on (more than the interval when "
                 "checkpoints are late). "
                 "load = the point's memstress ran beside kvd.\n")
        rows = []
        for p in net_pts:
            if p.get("net_note") and p.get("net_samples_sync") is None:
                rows.append((p["memory"], p["vcpus"], p["policy"], f"{float(p['interval']):g}", p["dirty"], "–",
                             p["net_note"], "", "", "", "", "", "", "", "", "", ""))
                continue
            mark = " †" if is_contended(p) else ""
            rows.append((p["memory"], p["vcpus"], p["policy"] + mark, f"{float(p['interval']):g}", p["dirty"],
                         "yes" if p.get("net_load") else "no",
                         f(p.get("net_p50_us_sync")), f(p.get("net_p99_us_sync")), f(p.get("net_max_us_sync")),
                         f(p.get("net_p50_us_nosync")), f(p.get("net_p99_us_nosync")), f(p.get("net_max_us_nosync")),
                         f(p.get("net_rps_sync")), f(p.get("net_rps_nosync")),
                         f"{f(p.get('net_hold_p50_us_sync'))} / {f(p.get('net_hold_p99_us_sync'))}",
                         f"{f(p.get('net_pause_p50_us_sync'))} / {f(p.get('net_pause_p50_us_nosync'))}",
                         f(1000.0 / p["net_ckpts_per_s_sync"], 1) if p.get("net_ckpts_per_s_sync") else "–"))
        L.append(md_table(["mem", "vCPUs", "policy", "interval ms", "dirty", "load", "on p50 us", "on p99 us",
                           "on max us", "off p50 us", "off p99 us", "off max us", "on req/s", "off req/s",
                           "hold p50 / p99 us (on)", "pause p50 us on / off", "period ms (on)"], rows))
        lost = [(p["key"], m, p.get(f"net_retries_{m}"), p.get(f"net_unanswered_{m}")) for p in net_pts
                for m in ("sync", "nosync") if p.get(f"net_retries_{m}") or p.get(f"net_unanswered_{m}")]
        if lost:
            L.append("\nRequests resent after a timeout (their latency counts from the first send) or never answered: " +
                     "; ".join(f"`{k}` {'on' if m == 'sync' else 'off'}: {a} resent, {b} unanswered"
                               for k, m, a, b in lost) + ".")
        if any(p.get("net_cdf_file") for p in net_pts):
            L.append("\nLatency CDFs: `net_latency_cdf.png` (data: `net-cdf/*.dat`).")
    L.append("\n## QEMU baseline\n")
    if not cfg["qemu"]:
        L.append("Not run (`--qemu` to enable).")
    elif not qemus:
        L.append("Not measured yet.")
    else:
        accels = sorted({q.get("accel") or "kvm" for q in qemus})
        L.append(f"Same guest image booted with `-M microvm -kernel guest.img` (PVH), `-accel {'/'.join(accels)}`, same memory and "
                 "vCPUs. full = `migrate` to a file while running (live precopy); stopped = `stop`, `migrate`, `cont` "
                 "(a stop-the-world full snapshot, timed by us); snapshot-save = `stop`, `snapshot-save` (the VM "
                 "state as an internal snapshot of a qcow2 file, as `savevm`), `cont`, timed by us; bg = `background-snapshot` capability "
                 "(userfaultfd write-protect); restore = a new QEMU with `-incoming defer`, `migrate-incoming` from "
                 "the file, `cont` (spawn → running). QEMU reports times in whole ms. writes/s = unthrottled "
                 "memstress over `qemu_dirty` pages, as in the overhead phase (median of 1 s reports over 5 s); "
                 "back to back = stopped snapshots one after another for 5 s: snapshots per second and the "
                 "writes/s the guest kept meanwhile.\n")
        rows = []
        for q in qemus:
            rows.append((q["memory"], q["vcpus"], f(q.get("full_total_ms"), 1), f(q.get("full_downtime_ms"), 1),
                         f(q.get("stopped_total_ms"), 1), f(q.get("savevm_total_ms"), 1), f(q.get("bg_total_ms"), 1),
                         f(q.get("bg_downtime_ms"), 1),
                         f(q.get("restore_ms"), 1), f((q.get("full_file_bytes") or 0) / (1 << 20), 1),
                         f(q.get("tput_writes_per_s")), f(q.get("b2b_snapshots_per_s"), 2), f(q.get("b2b_writes_per_s")),
                         "; ".join(q.get("errors") or []) or "–"))
        L.append(md_table(["mem", "vCPUs", "full total ms", "full downtime ms", "stopped total ms",
                           "snapshot-save total ms", "bg total ms",
                           "bg downtime ms", "restore ms", "file MiB", "writes/s", "back to back /s",
                           "writes/s back to back", "problems"], rows))
        L.append("\nRatios (ours / QEMU's, same run; < 1 means we are faster): pause p50 / full-snapshot downtime; "
                 "pause max / background-snapshot downtime; per-checkpoint work (pause + that epoch's CoW faults) / "
                 "full-snapshot total time; cold recovery (spawn → resumed) / QEMU restore.\n")
        rows = []
        for p in points:
            rows.append((p["memory"], p["vcpus"], p["policy"], f"{float(p['interval']):g}", p["dirty"],
                         f(p.get("qemu_ratio_pause_p50_to_full_downtime"), 3),
                         f(p.get("qemu_ratio_pause_max_to_bg_downtime"), 3),
                         f(p.get("qemu_ratio_ckpt_to_full_total"), 4), f(p.get("qemu_ratio_ckpt_to_bg_total"), 4),
                         f(p.get("qemu_ratio_cold_to_restore"), 3), f(p.get("qemu_ratio_stopped_to_pause_p50"), 0),
                         f(p.get("qemu_ratio_savevm_to_pause_p50"), 0), f(p.get("qemu_ratio_tput_off"), 2), f(p.get("qemu_ratio_tput_on"), 2), f(p.get("ckpts_per_s"), 1)))
        L.append(md_table(["mem", "vCPUs", "policy", "interval", "dirty", "pause p50 / full downtime",
                           "pause max / bg downtime", "ckpt / full total", "ckpt / bg total", "cold / restore",
                           "stopped snapshot / pause p50 (x)", "snapshot-save / pause p50 (x)",
                           "writes/s off / QEMU", "writes/s on / QEMU",
                           "our ckpts/s"], rows))
    errs = [(p.get("key"), e) for p in points + qemus for e in (p.get("errors") or [])]
    starved = [p for p in points if p.get("memstress_rate_pct") is not None and p["memstress_rate_pct"] < 80]
    L.append("\n## What did not work\n")
    if errs:
        L.append("\n".join(f"- `{k}`: {e}" for k, e in errs))
    else:
        L.append("Every phase of every point completed.")
    if starved:
        L.append("\nmemstress fell short of its target rate in the pause run of these points (the guest was starved "
                 "by checkpointing or by its own scheduler), so fewer pages were dirtied per epoch than asked:\n")
        L.append(md_table(["mem", "vCPUs", "policy", "interval", "dirty", "target writes/s", "reached", "measured dirty p50"],
                          [(p["memory"], p["vcpus"], p["policy"], f"{float(p['interval']):g}", p["dirty"], p["rate"],
                            f"{p['memstress_rate_pct']:.0f}%", f(p.get("pages_dirty_p50"))) for p in starved]))
    L.append("\n## Plots\n")
    L.append(plots_note)
    L.append("\nRaw data: `results.jsonl` (one object per point), `results.csv`, `qemu.csv`, `config.json`.\n")
    with open(os.path.join(out, "summary.md"), "w") as fh:
        fh.write("\n".join(L) + "\n")


def style_color(policy):
    return {"stop-and-copy": "rgb '#1f77b4'", "cow": "rgb '#d62728'", "hybrid": "rgb '#2ca02c'",
            "precopy": "rgb '#9467bd'"}.get(policy, "rgb '#7f7f7f'")


def style_point(vcpus):
    return {"1vCPU": 7, "2vCPU": 5}.get(vcpus, 9)


def write_plots(out, points):
    if not shutil.which("gnuplot"):
        return "gnuplot is not installed (`apt-get install -y gnuplot-nox`): no plots."
    made, failed = [], []

    def run(name, script):
        path = os.path.join(out, name + ".gp")
        with open(path, "w") as fh:
            fh.write(script)
        p = subprocess.run(["gnuplot", name + ".gp"], cwd=out, capture_output=True, text=True, timeout=60)
        if p.returncode == 0 and os.path.exists(os.path.join(out, name + ".png")):
            made.append(name + ".png")
        else:
            failed.append(f"{name}: {p.stderr.strip()[:200]}")

    term = "set terminal pngcairo size 1000,600 noenhanced font ',10'\n" \
        if "pngcairo" in subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True).stdout + \
        subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True).stderr \
        else "set terminal png size 1000,600 noenhanced\n"
    # 1. pause vs measured dirty pages, one series per policy and vCPU count
    series = {}
    for p in points:
        if p.get("pause_p50_us") is not None and p.get("pages_dirty_p50") is not None:
            series.setdefault(f"{p['policy']} {p['vcpus']}vCPU", []).append(
                (max(p["pages_dirty_p50"], 1), p["pause_p50_us"], p.get("pause_p99_us") or p["pause_p50_us"]))
    if series:
        blocks, plots = [], []
        for i, (name, pts) in enumerate(sorted(series.items())):
            blocks.append("\n".join(f"{x} {y} {z}" for x, y, z in sorted(pts)))
            pol, vc = name.split(" ")
            plots.append(f"'pause_vs_dirty.dat' index {i} using 1:2:2:3 with yerrorbars lc {style_color(pol)} "
                         f"pt {style_point(vc)} ps 1.3 title '{name} (p50, bar to p99)'")
        with open(os.path.join(out, "pause_vs_dirty.dat"), "w") as fh:
            fh.write("\n\n\n".join(blocks) + "\n")
        run("pause_vs_dirty", term + "set output 'pause_vs_dirty.png'\nset logscale x\nset logscale y\n"
            "set xlabel 'pages dirtied per epoch (measured p50)'\nset ylabel 'stop-the-world pause (us)'\n"
            "set title 'Checkpoint pause vs dirty pages (PVM nested host: each exit ~25 us)'\nset key top left\n"
            "set grid\nplot " + ", \\\n  ".join(plots) + "\n")
    # 2. pause breakdown, stacked bars
    rows = [p for p in points if p.get("pause_mean_us") is not None]
    if rows:
        with open(os.path.join(out, "pause_breakdown.dat"), "w") as fh:
            fh.write("# label " + " ".join(PARTS) + "\n")
            for p in rows:
                lab = f"{p['policy'][:5]}/{p['vcpus']}v/d{p['dirty']}/{float(p['interval']):g}ms"
                fh.write(lab + " " + " ".join(str(p.get(f"{x}_mean_us") or 0) for x in PARTS) + "\n")
        cols = ", ".join(f"'' using {i + 2} title '{x}'" if i else f"'pause_breakdown.dat' using 2:xtic(1) title '{x}'"
                         for i, x in enumerate(PARTS))
        run("pause_breakdown", term.replace("1000,600", f"{max(1000, 40 * len(rows))},650") +
            "set output 'pause_breakdown.png'\nset style data histograms\nset style histogram rowstacked\n"
            "set style fill solid 0.8 border -1\nset boxwidth 0.75\nset xtics rotate by -45\n"
            "set ylabel 'mean us per checkpoint'\nset key outside right\nset grid y\n"
            "set title 'Pause breakdown (policy/vCPUs/dirty/interval)'\nplot " + cols + "\n")
    # 3. overhead vs interval
    series = {}
    for p in points:
        if p.get("overhead_pct") is not None:
            series.setdefault((p["policy"], f"{p['vcpus']}vCPU", int(p["dirty"])), []).append(
                (float(p["interval"]), p["overhead_pct"]))
    if series:
        blocks, plots = [], []
        dirties = sorted({k[2] for k in series})
        for i, ((pol, vc, d), pts) in enumerate(sorted(series.items())):
            blocks.append("\n".join(f"{x} {y}" for x, y in sorted(pts)))
            plots.append(f"'overhead_vs_interval.dat' index {i} using 1:2 with linespoints lc {style_color(pol)} "
                         f"pt {style_point(vc)} dt {dirties.index(d) + 1} lw 1.5 title '{pol} {vc} dirty={d}'")
        with open(os.path.join(out, "overhead_vs_interval.dat"), "w") as fh:
            fh.write("\n\n\n".join(blocks) + "\n")
        run("overhead_vs_interval", term + "set output 'overhead_vs_interval.png'\nset logscale x\n"
            "set xlabel 'checkpoint interval (ms)'\nset ylabel 'memstress throughput lost (%)'\n"
            "set title 'Runtime overhead vs checkpoint interval'\nset key outside right\nset grid\n"
            "plot " + ", \\\n  ".join(plots) + "\n")
    # 4. request latency CDFs of kvd, external synchrony on (solid) and off (dashed), one colour per point
    cdfs = [p for p in points if p.get("net_cdf_file") and os.path.exists(os.path.join(out, p["net_cdf_file"]))]
    if cdfs:
        colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
                   "#7f7f7f", "#bcbd22"]
        plots = []
        for i, p in enumerate(cdfs):
            lab = f"{p['policy']} {p['vcpus']}vCPU {float(p['interval']):g}ms" + \
                (f" dirty={p['dirty']}" if p.get("net_load") else "")
            c = colours[i % len(colours)]
            for col, mode, dt in ((2, "sync on", 1), (3, "sync off", 2)):
                plots.append(f"'{p['net_cdf_file']}' using (${col}/1000.0):1 with lines lw 2 dt {dt} "
                             f"lc rgb '{c}' title '{lab}, {mode}'")
        run("net_latency_cdf", term + "set output 'net_latency_cdf.png'\nset logscale x\n"
            "set xlabel 'request latency (ms), client send → reply'\nset ylabel 'fraction of requests'\n"
            "set yrange [0:1]\nset title 'kvd request latency CDF, external synchrony on (solid) and off (dashed)'\n"
            "set key bottom right\nset grid\nplot " + ", \\\n  ".join(plots) + "\n")
    note = ", ".join(f"`{m}`" for m in made) if made else "No plot (no finished point with data)."
    if failed:
        note += "\n\ngnuplot failed: " + "; ".join(failed)
    return note


def finalize(out, cfg, host, interrupted, total_points):
    res = read_results(out)
    points = [r for r in res if r.get("kind") == "point"]
    qemus = [r for r in res if r.get("kind") == "qemu"]
    # if a point was redone (resume after a torn write), keep the last result
    points = list({r["key"]: r for r in points}.values())
    qemus = list({r["key"]: r for r in qemus}.values())
    qmap = {(q["memory"], int(q["vcpus"])): q for q in qemus}
    for p in points:
        add_ratios(p, qmap)
    write_csv(os.path.join(out, "results.csv"), points, POINT_COLS)
    write_csv(os.path.join(out, "qemu.csv"), qemus, QEMU_COLS)
    plots_note = write_plots(out, points)
    write_summary(out, cfg, host, points, qemus, plots_note, interrupted, total_points)
    return points, qemus


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    if (sys.argv[1:] if argv is None else argv)[:1] == ["_net-client"]:
        return net_client((sys.argv[1:] if argv is None else argv)[1:])
    ap = argparse.ArgumentParser(
        prog="bench.py", description="hypersls checkpoint-latency benchmark (matrix of points; see tools/bench/README.md)")
    ap.add_argument("--config", help="TOML file with [matrix] (axes as lists) and [run] (duration, qemu, ...)")
    ap.add_argument("--memory", help="guest memory sizes, comma list (e.g. 64M,256M,1G,4G)")
    ap.add_argument("--vcpus", help="vCPU counts, comma list (1,2)")
    ap.add_argument("--dirty", help="pages dirtied per epoch, comma list (0-10000)")
    ap.add_argument("--skew", help="hot/cold skew HOT/HOTPCT, comma list (10/90: 10%% of the pages get 90%% of the writes)")
    ap.add_argument("--policy", help="copy policies, comma list (stop-and-copy,cow,hybrid,precopy)")
    ap.add_argument("--interval", help="checkpoint intervals in ms, comma list (1,5,10,100)")
    ap.add_argument("--persistence", help="persistence domains, comma list (eadr,adr)")
    ap.add_argument("--duration", type=float, help="seconds of measurement per point (pause run; default 3)")
    ap.add_argument("--warmup", type=float, help="seconds after the workload started before measuring (0.5)")
    ap.add_argument("--overhead-pairs", type=int, help="pairs of checkpoint on/off windows per point for the overhead (8)")
    ap.add_argument("--overhead-window", type=float, help="seconds of each on/off window (0.3; at least 0.3)")
    ap.add_argument("--no-ckpt-check", dest="no_ckpt_check", action="store_true", default=None,
                    help="also run memstress once with --no-ckpt (cross-check of the overhead; default on)")
    ap.add_argument("--no-no-ckpt-check", dest="no_ckpt_check", action="store_false", help="skip that run")
    ap.add_argument("--recoveries", type=int, help="in-process power failures per point (3)")
    ap.add_argument("--no-cold", action="store_true", help="skip the SIGKILL + cold-start recovery")
    ap.add_argument("--qemu", dest="qemu", action="store_true", default=None, help="run the QEMU baseline")
    ap.add_argument("--no-qemu", dest="qemu", action="store_false", help="skip the QEMU baseline")
    ap.add_argument("--qemu-bin", help="QEMU binary (qemu-system-x86_64)")
    ap.add_argument("--qemu-reps", type=int, help="repetitions of each QEMU measurement (3)")
    ap.add_argument("--qemu-dirty", type=int, help="QEMU guest workload: pages dirtied per 10 ms (default: smallest --dirty)")
    ap.add_argument("--net", dest="net", action="store_true", default=None,
                    help="also measure kvd over virtio-net, external synchrony on and off (needs root, /dev/net/tun)")
    ap.add_argument("--no-net", dest="net", action="store_false", help="skip the network phase (the default)")
    ap.add_argument("--net-seconds", type=float, help="seconds of each client run (5; --tiny 1)")
    ap.add_argument("--net-warmup", type=float, help="seconds of requests before the client's window (0.5)")
    ap.add_argument("--net-reps", type=int, help="client runs per mode, on/off alternating (1)")
    ap.add_argument("--net-clients", type=int, help="requests the client keeps outstanding (1)")
    ap.add_argument("--net-load", choices=["auto", "on", "off"],
                    help="run the point's memstress beside kvd (auto: with 2+ vCPUs)")
    ap.add_argument("--net-value", type=int, help="bytes of each SET's value (64)")
    ap.add_argument("--net-think", type=float, help="ms: the client waits a random 0-MS ms after each reply (0: none)")
    ap.add_argument("--net-only", action="store_true", help="only the network phase (implies --net)")
    ap.add_argument("--wait-idle", type=float, help="before each point, wait up to S seconds for other vmm/qemu processes to end")
    ap.add_argument("--nvm-dir", help="folder for the NVM files (tmpfs; default /dev/shm)")
    ap.add_argument("--out", help="results folder (default results/<timestamp>)")
    ap.add_argument("--resume", metavar="DIR", help="continue the run in DIR: same configuration, skip finished points")
    ap.add_argument("--redo-failed", action="store_true", help="with --resume: also run again the points that had a failed phase")
    ap.add_argument("--tiny", action="store_true", help="a ~10 s configuration (CI smoke test)")
    ap.add_argument("--vmm", help="vmm binary (build/vmm/vmm)")
    ap.add_argument("--accel", choices=["auto", "kvm", "tcg"], help="accelerator of the vmm runs (default auto)")
    ap.add_argument("--guest", help="guest image (build/guest/guest.img)")
    ap.add_argument("--list", action="store_true", help="print the points and exit")
    args = ap.parse_args(argv)

    if args.resume:
        out = args.resume
        try:
            with open(os.path.join(out, "config.json")) as fh:
                cfg = json.load(fh)
        except OSError as e:
            sys.exit(f"bench: --resume {out}: {e}")
        for k in ("vmm", "guest"):  # the binaries may be given anew
            if getattr(args, k):
                cfg[k] = os.path.abspath(getattr(args, k))
        for k, v in DEFAULTS.items():  # keys added since that run
            cfg.setdefault(k, v)
        validate(cfg)
        cfg.setdefault("argv_resumed", []).append(" ".join([sys.argv[0]] + (argv or sys.argv[1:])))
    else:
        cfg = load_config(args)
        out = args.out or os.path.join("results", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
        cfg["argv"] = ["tools/bench/bench.py"] + (argv if argv is not None else sys.argv[1:])

    pts = points_of(cfg)
    combos = qemu_combos(cfg)
    if args.list:
        b = Bench.__new__(Bench)
        b.cfg = cfg
        for p in pts:
            print(point_key(p))
        for c in combos:
            print(f"qemu|memory={c['memory']}|vcpus={c['vcpus']}")
        est = sum(b.estimate(p) for p in pts) + len(combos) * (12.0 + 4 * cfg["qemu_reps"])
        print(f"bench: {len(pts)} point(s), {len(combos)} QEMU baseline(s), about {fmt_secs(est)}", file=sys.stderr)
        return 0
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as fh:
        json.dump(cfg, fh, indent=1)
    last = {r["key"]: r for r in read_results(out)}
    done = {k for k, r in last.items() if not (args.redo_failed and r.get("errors"))}
    bench = Bench(cfg, out)
    host = host_info(dict(cfg, vmm=bench.vmm, guest=bench.guest))
    with open(os.path.join(out, "host.json"), "w") as fh:
        json.dump(host, fh, indent=1)
    todo = [("qemu", c) for c in combos if f"qemu|memory={c['memory']}|vcpus={c['vcpus']}" not in done] + \
           [("point", p) for p in pts if point_key(p) not in done]
    est = {id(x): (12.0 + 4 * cfg["qemu_reps"] if kind == "qemu" else bench.estimate(x)) for kind, x in todo}
    total = len(pts) + len(combos)
    totals = (len(pts), len(combos))
    prog = Progress(len(todo), sum(est.values()))
    bench.progress = prog
    skipped = total - len(todo)
    if skipped:
        prog.note(f"bench: resuming {out}: {skipped} of {total} finished, {len(todo)} to go")
    prog.note(f"bench: {len(todo)} to run, results in {out}; Ctrl-C stops and keeps finished points")

    def on_signal(signum, frame):
        STOP.set()

    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    interrupted = False
    try:
        for kind, x in todo:
            if STOP.is_set():
                interrupted = True
                break
            label = (f"QEMU baseline {x['memory']} {x['vcpus']}vCPU" if kind == "qemu" else
                     f"{x['memory']} {x['vcpus']}vCPU {x['policy']} {x['interval']:g}ms dirty={x['dirty']} "
                     f"skew={x['skew']} {x['persistence']}")
            prog.set(point=label, phase="starting")
            try:
                r = bench.run_qemu(x) if kind == "qemu" else bench.run_point(x)
            except Interrupted:
                interrupted = True
                break
            with open(os.path.join(out, "results.jsonl"), "a") as fh:
                fh.write(json.dumps(r) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            if r.get("errors"):
                prog.note(f"bench: {label}: " + "; ".join(r["errors"])[:400])
            prog.finish_one(est[id(x)])
    finally:
        bench.cleanup()
        if STOP.is_set():
            interrupted = True
        prog.set(phase="writing results")
        STOP.set()  # stops the progress timer
        prog.close()
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        STOP.clear()
        points, qemus = finalize(out, cfg, host, interrupted, totals)
    print(f"bench: {len(points)} of {len(pts)} points, {len(qemus)} QEMU baselines in {out} "
          f"(summary.md, results.jsonl, results.csv)", file=sys.stderr)
    if interrupted:
        print(f"bench: stopped; continue with: tools/bench/bench.py --resume {out}", file=sys.stderr)
        return 130
    failed = [r["key"] for r in points + qemus if r.get("errors")]
    if failed:
        print(f"bench: {len(failed)} point(s) had failed phases (see 'What did not work' in summary.md)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
