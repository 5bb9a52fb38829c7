"""The run's configuration: flags and TOML into one dict, checked; the matrix's points."""
import os
import platform
import re
import subprocess
import sys

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

from .util import AXES, DEFAULTS, POLICIES, ROOT, TINY, parse_size


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
