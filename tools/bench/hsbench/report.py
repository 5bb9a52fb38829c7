"""Results into results.csv, qemu.csv and summary.md, with the bars' verdicts."""
import csv
import datetime
import json
import os

from .util import BAR, PARTS, bar_for, median, parse_size, rnd


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
