"""The QEMU baseline: snapshots of the same guest (stopped, live, background), restore, back-to-back rate."""
import os
import re
import shutil
import subprocess
import time

from .proc import Monitor, Proc
from .util import PhaseError, check_stop, contention, cpu_times, foreign_load, loadavg, median, rnd, sleep


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


class QemuRuns:
    """Bench's methods (runner.py) for this phase."""

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
            r["errors"].append(f"{qemu} not found (apt-get install -y qemu-system-x86 qemu-utils)")
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
                            self.qemu_cont(mon)
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

    def qemu_cont(self, mon, timeout=60):
        """Resumes the guest after a snapshot, unless it runs already (a live migration). `query-migrate` says
        "completed" a little before QEMU leaves the finish-migrate state, and `cont` refuses until it has
        ("Migration is not finalized yet"): the guest cannot run before then either, so that wait is part of
        QEMU's stopped time."""
        deadline = time.monotonic() + timeout
        while True:
            status = mon.qmp("query-status").get("status")
            if status == "running":
                return
            if status != "finish-migrate":
                mon.qmp("cont")
                return
            if time.monotonic() > deadline:
                raise PhaseError("QEMU stayed in finish-migrate after the migration completed")
            sleep(0.0005)

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
                self.qemu_cont(mon)
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
