"""The network phase: kvd over virtio-net in a private network namespace, and its closed-loop client."""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

from .proc import Monitor, Proc
from .util import BENCH, PhaseError, ROOT, check_stop, mean, median, nearest, net_slug, pct, point_key, rnd, sleep


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


class NetPhase:
    """Bench's methods (runner.py) for this phase."""

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
            client = Proc(["ip", "netns", "exec", ns, sys.executable, BENCH, "_net-client",
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
