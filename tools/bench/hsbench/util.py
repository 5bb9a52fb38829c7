"""Constants, the bars of the issues, and small helpers shared by the benchmark's modules."""
import math
import os
import re
import statistics
import threading
import time


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))  # the repository
BENCH = os.path.join(ROOT, "tools", "bench", "bench.py")  # the program (its _net-client runs in a namespace)


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
