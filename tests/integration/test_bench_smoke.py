"""Smoke test of the checkpoint benchmark (tools/bench/bench.py --tiny): it runs,
writes results.jsonl, results.csv and summary.md, and every point has numbers
for every figure the benchmark exists to measure. It is not a performance test:
no figure is compared with a bar here.

argv: VMM GUEST"""
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ACCEL, check, fail, require_accel, tmpdir  # noqa: E402

require_accel()
vmm, guest = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
bench = os.path.join(root, "tools", "bench", "bench.py")
check(os.path.exists(bench), f"{bench} is missing")

# Figures every point must carry as finite numbers.
FIGURES = ["pause_p50_us", "pause_p99_us", "pause_max_us", "pages_dirty_p50", "stop_mean_us", "save_mean_us",
           "dirty_log_mean_us", "copy_mean_us", "protect_mean_us", "commit_mean_us", "resume_mean_us",
           "nvm_bytes_p50", "cow_faults_per_ckpt", "guest_pause_max_us", "tput_on", "tput_off", "overhead_pct",
           "recovery_restore_ms_p50", "cold_restore_ms", "cold_start_to_resumed_ms"]


def number(x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return False
    return math.isfinite(v)


listed = subprocess.run([sys.executable, bench, "--tiny", "--accel", ACCEL, "--vmm", vmm, "--guest", guest, "--list"],
                        capture_output=True, text=True, timeout=30)
check(listed.returncode == 0, f"bench.py --tiny --list failed ({listed.returncode}): {listed.stderr}")
keys = [l for l in listed.stdout.splitlines() if l.strip()]
check(keys, "bench.py --tiny --list printed no point")

d = tmpdir()
out = os.path.join(d, "results")
t0 = time.monotonic()
try:
    p = subprocess.run([sys.executable, bench, "--tiny", "--accel", ACCEL, "--vmm", vmm, "--guest", guest, "--out", out],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=55)
except subprocess.TimeoutExpired as e:
    fail(f"bench.py --tiny did not finish within 55 s\n--- stderr:\n{e.stderr}")
took = time.monotonic() - t0
log = f"--- stdout:\n{p.stdout}\n--- stderr:\n{p.stderr[-4000:]}"
check(p.returncode == 0, f"bench.py --tiny exited {p.returncode}\n{log}")

for name in ("results.jsonl", "results.csv", "summary.md", "config.json"):
    check(os.path.isfile(os.path.join(out, name)), f"{name} was not written\n{log}")

# results.jsonl: one object per point, every figure a number, no phase failed
rows = []
with open(os.path.join(out, "results.jsonl")) as fh:
    for n, line in enumerate(fh, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            fail(f"results.jsonl line {n} is not JSON: {e}")
points = {r["key"]: r for r in rows if r.get("kind") == "point"}
check(sorted(points) == sorted(keys), f"results.jsonl holds {sorted(points)}, expected {sorted(keys)}")
for k, r in points.items():
    check(not r.get("errors"), f"{k}: phases failed: {r.get('errors')}")
    missing = [f for f in FIGURES if not number(r.get(f))]
    check(not missing, f"{k}: no number for {missing}\n{json.dumps(r, indent=1)}")
    check(r["pause_p50_us"] > 0 and r["pause_p50_us"] <= r["pause_p99_us"] <= r["pause_max_us"],
          f"{k}: pause percentiles out of order: {r['pause_p50_us']}, {r['pause_p99_us']}, {r['pause_max_us']}")
    check(r["tput_on"] > 0 and r["tput_off"] > 0, f"{k}: memstress made no progress: on {r['tput_on']}, off {r['tput_off']}")
    check(r.get("ckpts_in_window", 0) > 0, f"{k}: no checkpoint in the measurement window")

# results.csv: a header and one row per point with the same numbers
with open(os.path.join(out, "results.csv"), newline="") as fh:
    table = list(csv.DictReader(fh))
check(len(table) == len(keys), f"results.csv has {len(table)} rows, expected {len(keys)}")
for row in table:
    missing = [f for f in FIGURES if not number(row.get(f))]
    check(not missing, f"results.csv row {row.get('policy')}: no number for {missing}")

# summary.md: the sections and one table row per point with its pause median
with open(os.path.join(out, "summary.md")) as fh:
    summary = fh.read()
for section in ("## Host", "## Performance bar", "## Stop-the-world pause", "## Runtime overhead and recovery"):
    check(section in summary, f"summary.md lacks {section!r}")
for r in points.values():
    median = f"| {r['pause_p50_us']:.0f} |"
    check(any(f"| {r['policy']}" in line and median in line for line in summary.splitlines()),
          f"summary.md has no row for {r['policy']} with pause p50 {r['pause_p50_us']:.0f}")

shutil.rmtree(d, ignore_errors=True)
print(f"ok: bench.py --tiny ran {len(points)} point(s) in {took:.1f} s; results.jsonl, results.csv and summary.md "
      f"hold numbers for every point")
