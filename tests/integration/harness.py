"""Shared helpers for the integration tests: run vmm, talk to its monitor,
build tiny PVH ELF images, give a test its own network namespace. Every test
calls require_accel() first: on the KVM leg a missing /dev/kvm is the only reason to skip
(exit 77), and it says so loudly; network tests also skip when network
namespaces or tap devices cannot be made here (require_netns())."""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77


# The accelerator this run of a test uses: meson runs each integration test
# once per accelerator (HSLS_ACCEL = tcg | kvm); by hand it is "auto".
ACCEL = os.environ.get("HSLS_ACCEL", "auto")


def require_accel():
    """Only the KVM leg may skip, loudly, and only when /dev/kvm is absent."""
    if ACCEL == "kvm" and not os.path.exists("/dev/kvm"):
        print("SKIP: /dev/kvm is absent on this machine; this is the KVM leg of the test "
              "(the tcg leg runs everywhere)", file=sys.stderr)
        sys.exit(SKIP)
    print(f"accelerator: {ACCEL}", file=sys.stderr)


def accel_args():
    """The vmm flags that select this run's accelerator."""
    return [] if ACCEL == "auto" else ["--accel", ACCEL]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Vmm:
    """A running `vmm run`, with its stdout (guest serial) and stderr (log)
    collected by background threads."""

    def __init__(self, vmm, args, stdin=subprocess.DEVNULL, prefix=()):
        self.cmd = list(prefix) + [vmm, "run"] + accel_args() + args
        self.proc = subprocess.Popen(self.cmd, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        _live_vmms.append(self)
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


_live_vmms = []


def _kill_live_vmms():
    for v in _live_vmms:
        try:
            v.kill()
        except OSError:
            pass


atexit.register(_kill_live_vmms)


def run_vmm(vmm, args, timeout=60):
    """Runs vmm to completion; returns (exit code, stdout, stderr)."""
    p = subprocess.run([vmm, "run"] + accel_args() + args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
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
    """A scratch directory on tmpfs (NVM files need it), removed when the test exits (unless HSLS_KEEP_TMP=1:
    its NVM file and logs help to debug a failure). /dev/shm is RAM: left behind, they add up."""
    d = tempfile.mkdtemp(prefix="hsls-test-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    if os.environ.get("HSLS_KEEP_TMP") != "1":
        atexit.register(shutil.rmtree, d, True)
    return d


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


# ---- network tests -------------------------------------------------------

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TOOLS = os.path.join(REPO, "tools")
KVCLI = os.path.join(TOOLS, "kvcli")
GUEST_IP, HOST_IP, KVD_PORT = "10.77.0.2", "10.77.0.1", 7000
NS_PREFIX = "hsls-t"


def skip(msg):
    print("SKIP: " + msg, file=sys.stderr)
    sys.exit(SKIP)


def _netns_names():
    p = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [l.split()[0] for l in p.stdout.splitlines() if l.strip()]


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _on_signal(signum, frame):
    # meson's timeout sends SIGTERM: unwind, so that `finally` and atexit
    # kill vmm and remove the namespace.
    signal.signal(signum, signal.SIG_DFL)
    print(f"harness: signal {signum}, cleaning up", file=sys.stderr)
    sys.exit(128 + signum)


def require_netns():
    """Skips (77, loudly) when network namespaces or tap devices cannot be
    made on this machine (not root, no /dev/net/tun, no permission); fails
    when a tool the tests need is missing (tools/build installs them).
    Removes namespaces left by earlier test processes that no longer run."""
    for tool, package in (("ip", "iproute2"), ("ping", "iputils-ping")):
        if not shutil.which(tool):
            fail(f"'{tool}' not found: install {package} (tools/build does)")
    if os.geteuid() != 0:
        skip("network tests need root (network namespaces, tap devices); not running as root")
    if not os.path.exists("/dev/net/tun"):
        skip("/dev/net/tun is absent on this machine; network tests need tap devices")
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    for name in _netns_names():
        m = re.fullmatch(NS_PREFIX + r"(\d+)(?:-\d+|-probe)?", name)
        if m and not _pid_alive(int(m.group(1))):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
    probe = f"{NS_PREFIX}{os.getpid()}-probe"
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if p.returncode != 0:
        skip(f"cannot create a network namespace here: {p.stderr.strip()}")
    try:
        p = subprocess.run(["ip", "netns", "exec", probe, "ip", "tuntap", "add", "dev", "tap0", "mode", "tap"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            skip(f"cannot create a tap device in a network namespace here: {p.stderr.strip()}")
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)


class NetNs:
    """A network namespace of this test process (hsls-t<pid>[-N]) made by
    tools/netns-up (tap0 with 10.77.0.1/24), removed by close(), at exit,
    or on SIGTERM/SIGINT (after require_netns())."""
    count = 0

    def __init__(self):
        NetNs.count += 1
        self.name = f"{NS_PREFIX}{os.getpid()}" + (f"-{NetNs.count}" if NetNs.count > 1 else "")
        self.closed = False
        self.dirs = []
        atexit.register(self.close)
        p = subprocess.run([os.path.join(TOOLS, "netns-up"), self.name], capture_output=True, text=True)
        check(p.returncode == 0, f"tools/netns-up {self.name} failed ({p.returncode}):\n{p.stdout}{p.stderr}")

    def prefix(self):
        return ["ip", "netns", "exec", self.name]

    def tmpdir(self):
        """A scratch folder (NVM file, sockets) removed with the namespace."""
        d = tmpdir()
        self.dirs.append(d)
        return d

    def run(self, cmd, timeout=60, check_ok=False):
        """Runs cmd inside the namespace; returns CompletedProcess (text)."""
        p = subprocess.run(self.prefix() + list(cmd), capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check_ok:
            check(p.returncode == 0, f"{' '.join(cmd)} in {self.name}: exit {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def popen(self, cmd, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        p = subprocess.Popen(self.prefix() + list(cmd), **kw)
        _live_procs.append(p)
        return p

    def vmm(self, vmm, args):
        """A Vmm running inside this namespace (`ip netns exec` execs vmm:
        the process is vmm itself)."""
        return Vmm(vmm, args, prefix=self.prefix())

    def kvcli(self, *args, timeout=60):
        """Runs tools/kvcli inside the namespace; returns (exit code, stdout, stderr)."""
        p = self.run([sys.executable, KVCLI] + [str(a) for a in args], timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def ping(self, count=1, interval=None, wait=2, timeout=None, size=None):
        """ping GUEST_IP from the namespace; returns (RTTs in ms, CompletedProcess)."""
        cmd = ["ping", "-n", "-c", str(count), "-W", str(wait)]
        if interval is not None:
            cmd += ["-i", str(interval)]
        if size is not None:
            cmd += ["-s", str(size)]
        p = self.run(cmd + [GUEST_IP], timeout=timeout or (count * (interval or 1) + wait + 10))
        return ping_rtts(p.stdout), p

    def close(self):
        if self.closed:
            return
        self.closed = True
        for proc in _live_procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        _kill_live_vmms()
        subprocess.run([os.path.join(TOOLS, "netns-down"), self.name], capture_output=True)
        if self.name in _netns_names():
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


_live_procs = []


def ping_rtts(text):
    """The round-trip times (ms) of the replies in ping's output."""
    return [float(x) for x in re.findall(r"time=([0-9.]+) ms", text)]


def median(values):
    return statistics.median(values) if values else float("nan")


def ready_cmd(m, line, tries=200):
    """Runs a monitor command, retrying while the machine is powering back on."""
    for _ in range(tries):
        r = m.cmd(line)
        if r.get("ok") or "powered off" not in r.get("error", ""):
            return r
        time.sleep(0.02)
    return r
