"""The pause phase: stop-the-world pause and its parts from `info ckpt`, in-process and cold recovery."""
import re
import signal
import time

from .proc import Monitor
from .util import PARTS, PhaseError, foreign_load, mean, median, pct, rnd, sleep


class PausePhase:
    """Bench's methods (runner.py) for this phase."""

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
