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
This file is the program (flags, the loop over the points); the rest is in hsbench/.
"""

import argparse
import datetime
import json
import os
import signal
import sys

from hsbench.config import host_info, load_config, points_of, qemu_combos, validate
from hsbench.netload import net_client
from hsbench.plots import write_plots
from hsbench.progress import Progress
from hsbench.report import POINT_COLS, QEMU_COLS, add_ratios, read_results, write_csv, write_summary
from hsbench.runner import Bench
from hsbench.util import DEFAULTS, Interrupted, STOP, fmt_secs, point_key


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


