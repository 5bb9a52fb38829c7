"""One point of the matrix on the vmm: its phases in order, with the vmm's arguments and workloads."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

from .netload import GUEST_IP, KVD_PORT, NetPhase, netns_remove
from .overhead import OverheadPhase
from .pause import PausePhase
from .proc import Proc
from .qemu import QemuRuns
from .report import CONTENDED_PCT
from .util import AXES, PhaseError, check_stop, contention, cpu_times, foreign_load, loadavg, parse_size, point_key, sleep


class Bench(PausePhase, OverheadPhase, NetPhase, QemuRuns):
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
