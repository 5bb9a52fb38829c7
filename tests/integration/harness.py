"""Shared helpers for the integration tests: run vmm, talk to its monitor,
build tiny PVH ELF images. Every test calls require_kvm() first: a missing
/dev/kvm is the only reason to skip (exit 77), and it says so loudly."""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77


def require_kvm():
    if not os.path.exists("/dev/kvm"):
        print("SKIP: /dev/kvm is absent on this machine; this test needs KVM", file=sys.stderr)
        sys.exit(SKIP)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Vmm:
    """A running `vmm run`, with its stdout (guest serial) and stderr (log)
    collected by background threads."""

    def __init__(self, vmm, args, stdin=subprocess.DEVNULL):
        self.cmd = [vmm, "run"] + args
        self.proc = subprocess.Popen(self.cmd, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = []
        self.err = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
                        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True)]
        for t in self.threads:
            t.start()

    def _pump(self, stream, lines):
        for raw in iter(stream.readline, b""):
            with self.lock:
                lines.append(raw.decode(errors="replace").rstrip("\n"))

    def stdout(self):
        with self.lock:
            return "\n".join(self.out)

    def stderr(self):
        with self.lock:
            return "\n".join(self.err)

    def wait_for(self, text, timeout=30, stream="out"):
        """Waits until `text` appears in stdout (or stderr); fails on timeout or exit."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            hay = self.stdout() if stream == "out" else self.stderr()
            if text in hay:
                return
            if self.proc.poll() is not None:
                time.sleep(0.2)
                hay = self.stdout() if stream == "out" else self.stderr()
                if text in hay:
                    return
                fail(f"vmm exited ({self.proc.returncode}) before printing {text!r}\n{self.dump()}")
            time.sleep(0.05)
        fail(f"timed out after {timeout}s waiting for {text!r}\n{self.dump()}")

    def wait(self, timeout=60):
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail(f"vmm did not exit within {timeout}s\n{self.dump()}")
        for t in self.threads:
            t.join(timeout=5)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def dump(self):
        return f"--- command: {' '.join(self.cmd)}\n--- stdout:\n{self.stdout()}\n--- stderr:\n{self.stderr()}"


def run_vmm(vmm, args, timeout=60):
    """Runs vmm to completion; returns (exit code, stdout, stderr)."""
    p = subprocess.run([vmm, "run"] + args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


class Monitor:
    """A client of the JSON monitor socket."""

    def __init__(self, path, timeout=30):
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    fail(f"cannot connect to monitor socket {path}")
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("monitor closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send_raw(self, data):
        self.sock.sendall(data)

    def cmd(self, line):
        """Sends one command; returns its reply (events seen meanwhile are kept)."""
        self.sock.sendall(line.encode() + b"\n")
        return self.reply()

    def reply(self):
        while True:
            obj = self._line()
            if "event" in obj:
                self.events.append(obj)
                continue
            return obj

    def wait_event(self, name, timeout=30):
        for e in self.events:
            if e["event"] == name:
                return e
        self.sock.settimeout(timeout)
        while True:
            obj = self._line()
            if "event" in obj:
                self.events.append(obj)
                if obj["event"] == name:
                    return obj

    def close(self):
        self.sock.close()


def tmpdir():
    return tempfile.mkdtemp(prefix="hsls-test-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)


def pvh_elf(code32, load=0x100000):
    """A minimal ELF64 x86-64 image: one PT_LOAD at `load` holding `code32`
    (32-bit code run at the PVH entry), and a PT_NOTE with the Xen entry note."""
    note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", load)
    ehdr_size, phdr_size = 64, 56
    code_off = 0x1000
    note_off = code_off + len(code32)
    note_off = (note_off + 3) & ~3
    body = code32 + b"\0" * (note_off - code_off - len(code32)) + note
    ehdr = struct.pack("<16sHHIQQQIHHHHHH",
                       b"\x7fELF\x02\x01\x01" + b"\0" * 9, 2, 62, 1, load, ehdr_size, 0, 0,
                       ehdr_size, phdr_size, 2, 64, 0, 0)
    load_ph = struct.pack("<IIQQQQQQ", 1, 5, code_off, load, load, len(body), len(body), 0x1000)
    note_ph = struct.pack("<IIQQQQQQ", 4, 4, note_off, load + note_off - code_off, load + note_off - code_off,
                          len(note), len(note), 4)
    head = ehdr + load_ph + note_ph
    return head + b"\0" * (code_off - len(head)) + body
