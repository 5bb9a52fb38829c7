"""The processes the benchmark runs (vmm, QEMU) and their monitor sockets."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from .util import PhaseError, check_stop, sleep


def _libc_prctl():
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl
    except Exception:  # noqa: BLE001
        return None


# Resolved once here: loading ctypes in every forked child cost the cold-start
# figure (spawn -> resumed) several milliseconds that were not the vmm's.


_PRCTL = _libc_prctl()


def _die_with_parent():
    """In the child before exec: PR_SET_PDEATHSIG = SIGKILL (Linux), so no VM outlives a killed benchmark."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL, 0, 0, 0)


class Proc:
    """A child process (vmm or qemu) with stdout/stderr lines collected with their arrival time."""

    registry = set()

    def __init__(self, cmd, env=None, name=None):
        self.cmd = cmd
        self.name = name or os.path.basename(cmd[0])
        self.t_spawn = time.monotonic()
        # Own session (Ctrl-C reaches only us; we stop the VM ourselves), and SIGKILL when we die anyhow:
        # a vmm given --exit-with-parent asks for that itself, so it is spawned without Python code in
        # the child (vfork; forking this process and running a preexec function cost the cold-start
        # figure ~10-20 ms here, charged to the vmm's CPU time before main).
        own = "--exit-with-parent" in cmd
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  start_new_session=True, env=env, preexec_fn=None if own else _die_with_parent)
        Proc.registry.add(self)
        self.lock = threading.Lock()
        self.lines = {"out": [], "err": []}
        self.threads = [threading.Thread(target=self._pump, args=(self.p.stdout, "out"), daemon=True),
                        threading.Thread(target=self._pump, args=(self.p.stderr, "err"), daemon=True)]
        for t in self.threads:
            t.start()

    def _pump(self, stream, name):
        for raw in iter(stream.readline, b""):
            t = time.monotonic()
            with self.lock:
                self.lines[name].append((t, raw.decode(errors="replace").rstrip("\n")))

    @property
    def pid(self):
        return self.p.pid

    def count(self, stream="out"):
        with self.lock:
            return len(self.lines[stream])

    def text(self, stream="out"):
        with self.lock:
            return "\n".join(l for _, l in self.lines[stream])

    def wait_line(self, regex, timeout, stream="out", start=0):
        """Waits for a line matching `regex` at index >= start; returns (match, arrival time)."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        i = start
        while True:
            with self.lock:
                new = self.lines[stream][i:]
            for t, line in new:
                i += 1
                m = rx.search(line)
                if m:
                    return m, t
            if self.p.poll() is not None:
                time.sleep(0.1)
                with self.lock:
                    if len(self.lines[stream]) > i:
                        continue
                raise PhaseError(f"{self.name} exited ({self.p.returncode}) before printing "
                                 f"/{regex}/; last log: {self.tail()}")
            if time.monotonic() > deadline:
                raise PhaseError(f"timed out after {timeout:.0f}s waiting for /{regex}/; last log: {self.tail()}")
            sleep(0.01)

    def tail(self, n=3):
        with self.lock:
            ls = [l for _, l in self.lines["err"][-n:]] + [l for _, l in self.lines["out"][-n:]]
        return " | ".join(ls)[-600:]

    def kill(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        Proc.registry.discard(self)

    def wait(self, timeout):
        try:
            code = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise PhaseError(f"{self.name} did not exit within {timeout}s")
        Proc.registry.discard(self)
        return code


class Monitor:
    """JSON-lines client for the vmm monitor socket and QEMU's QMP."""

    def __init__(self, path, proc, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            check_stop()
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except OSError:
                s.close()
                if proc.p.poll() is not None:
                    raise PhaseError(f"process exited ({proc.p.returncode}) before its socket came up: {proc.tail()}")
                if time.monotonic() > deadline:
                    raise PhaseError(f"cannot connect to {path}")
                time.sleep(0.005)
        self.sock = s
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise PhaseError("the monitor closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def _reply(self):
        while True:
            o = self._line()
            if "event" in o:
                o["_t"] = time.monotonic()
                self.events.append(o)
                continue
            return o

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        try:
            return self._reply()
        except socket.timeout:
            raise PhaseError(f"no reply to {line!r}")

    def qmp(self, execute, **args):
        msg = {"execute": execute}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        try:
            r = self._reply()
        except socket.timeout:
            raise PhaseError(f"no QMP reply to {execute}")
        if "error" in r:
            raise PhaseError(f"QMP {execute}: {r['error'].get('desc', r['error'])}")
        return r.get("return")

    def wait_event(self, name, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e.get("event") == name:
                    self.events.remove(e)
                    return e
            check_stop()
            left = deadline - time.monotonic()
            if left <= 0:
                raise PhaseError(f"timed out waiting for the {name!r} event")
            self.sock.settimeout(min(left, 0.2))
            try:
                o = self._line()
            except socket.timeout:
                continue
            finally:
                self.sock.settimeout(20)
            o["_t"] = time.monotonic()
            self.events.append(o)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
