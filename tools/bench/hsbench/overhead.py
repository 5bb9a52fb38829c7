"""The overhead phases: the guest's clock alone, and memstress with checkpoints on and off."""
import math
import statistics
import time

from .proc import Monitor
from .util import PhaseError, check_stop, mean, median, rnd, sleep


class OverheadPhase:
    """Bench's methods (runner.py) for this phase."""

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
