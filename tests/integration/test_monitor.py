"""Every monitor command answers correctly over the socket; garbage gets an
error and changes nothing; several clients in turn work; quit ends vmm."""
import os
import stat
import struct
import sys
import time

from harness import Monitor, Vmm, check, ready_cmd, require_accel, tmpdir

require_accel()
vmm, guest = sys.argv[1], sys.argv[2]
d = tmpdir()
sock = f"{d}/mon.sock"
v = Vmm(vmm, ["--fresh", "--nvm", f"{d}/nvm", "--memory", "64M", "--vcpus", "2", "--monitor", sock, guest])
try:
    v.wait_for("hypersls guest: cpus=2", timeout=60)
    check(stat.S_IMODE(os.stat(sock).st_mode) == 0o600, "monitor socket is not mode 0600")
    m = Monitor(sock)

    r = m.cmd("help")
    check(r["ok"], f"help failed: {r}")
    names = {c["name"] for c in r["commands"]}
    for n in ("help", "info", "pause", "resume", "x", "x/i", "quit"):
        check(n in names, f"help does not list {n}: {sorted(names)}")

    r = m.cmd("info status")
    check(r["ok"] and r["status"] == "running" and r["vcpus"] == 2 and r["memory_bytes"] == 64 << 20,
          f"info status: {r}")

    r = m.cmd("info vcpus")
    check(r["ok"] and len(r["vcpus"]) == 2, f"info vcpus: {r}")
    for c in r["vcpus"]:
        check(c["mode"] == 64, f"vCPU {c['index']} is not in 64-bit mode: {c}")
        check(c["cr3"] != 0 and c["rip"] != 0, f"vCPU {c['index']} registers look unset: {c}")

    # Paused: registers do not move and status says so.
    check(m.cmd("pause")["ok"], "pause failed")
    check(m.cmd("info status")["status"] == "paused", "status is not paused after pause")
    a = [(c["rip"], c["rsp"], c["rax"]) for c in m.cmd("info vcpus")["vcpus"]]
    time.sleep(0.3)
    b = [(c["rip"], c["rsp"], c["rax"]) for c in m.cmd("info vcpus")["vcpus"]]
    check(a == b, f"registers changed while paused: {a} vs {b}")
    check(m.cmd("resume")["ok"], "resume failed")
    check(m.cmd("info status")["status"] == "running", "status is not running after resume")

    # x: the bytes at the image's first load address equal the file's bytes there.
    image = open(guest, "rb").read()
    phoff, = struct.unpack_from("<Q", image, 32)
    phnum, = struct.unpack_from("<H", image, 56)
    seg = None
    for i in range(phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz = struct.unpack_from("<IIQQQQ", image, phoff + 56 * i)
        if p_type == 1 and p_filesz >= 32:
            seg = (p_offset, p_paddr)
            break
    check(seg is not None, "guest image has no PT_LOAD segment of 32 bytes")
    r = m.cmd(f"x {seg[1]:#x} 32")
    check(r["ok"] and bytes.fromhex(r["bytes"]) == image[seg[0]:seg[0] + 32],
          f"x {seg[1]:#x} 32 returned {r} but the image holds {image[seg[0]:seg[0] + 32].hex()}")

    r = m.cmd("x/i rip 4")
    check(r["ok"] and len(r["insns"]) == 4 and r["insns"][0]["addr"] == r["rip"], f"x/i rip 4: {r}")
    r = m.cmd("x/i rip@1 2")
    check(r["ok"] and r["vcpu"] == 1 and len(r["insns"]) == 2, f"x/i rip@1 2: {r}")
    r = m.cmd(f"x/i {seg[1]:#x} 3")
    check(r["ok"] and len(r["insns"]) == 3 and r["insns"][0]["addr"] == seg[1], f"x/i ADDR 3: {r}")

    # info ckpt since=V: the statistics of exactly the checkpoints after V.
    r = m.cmd("info ckpt")
    # ckpt.policy auto (the default): copy-on-write behind the software CPU's write guard, else stop-and-copy.
    want = {"tcg": "cow", "kvm": "stop-and-copy"}.get(os.environ.get("HSLS_ACCEL", ""))
    check(want is None or r.get("policy") == want, f"ckpt.policy auto chose {r.get('policy')} on {os.environ.get('HSLS_ACCEL')}: {r}")
    if r.get("enabled", True):
        v0 = r["committed_version"]
        time.sleep(0.3)
        r = m.cmd(f"info ckpt since={v0}")
        s = r.get("summary", {})
        n = r.get("committed_version", 0) - v0
        check(r["ok"] and s.get("since_version") == v0 and s.get("complete") is True and n > 0,
              f"info ckpt since={v0}: {r}")
        # a checkpoint may commit between the count and the reply's version: at most one more
        check(s["count"] in (n, n + 1) and "mean" in s["pause_us"], f"info ckpt since={v0}: {s['count']} of {n}: {s}")

    # Errors: each gets {"ok":false,"error":...} and the VM keeps running.
    for bad in ("bogus", "info", "info nothing", "info ckpt since=", "info ckpt since=x", "info ckpt 5", "info status now", "x", "x 0x100000", "x zz 4", "x 0x100000 0", "x 0x100000 99999",
                "x 0xffffffffffff 16", "x/i rip@7 2", "x/i rip -1", "pause now", "", "\x01\x02\xff garbage"):
        r = m.cmd(bad)
        check(r["ok"] is False and isinstance(r.get("error"), str) and r["error"],
              f"{bad!r} did not get an error reply: {r}")
    m.send_raw(b"\xff\xfe\xfd\n")
    r = m.reply()
    check(r["ok"] is False, f"binary garbage did not get an error: {r}")
    check(m.cmd("info status")["status"] == "running", "VM not running after garbage")
    m.close()

    # Several clients in turn.
    for i in range(3):
        c = Monitor(sock)
        r = c.cmd("info status")
        check(r["ok"] and r["status"] == "running", f"client {i}: {r}")
        c.close()

    c = Monitor(sock)
    check(c.cmd("quit")["ok"], "quit failed")
    ev = c.wait_event("stopped", timeout=30)
    check(ev["exit_code"] == 0, f"stopped event: {ev}")
    code = v.wait(timeout=30)
    check(code == 0, f"vmm exited {code} after quit\n{v.dump()}")
    check(not os.path.exists(sock), "monitor socket left behind after exit")
finally:
    v.kill()
for f in ("nvm",):
    if os.path.exists(f"{d}/{f}"):
        os.unlink(f"{d}/{f}")

# A checkpoint asked for at the monitor that meets the power failure (armed
# at a crash point while paused) is refused with one line; vmm does not abort
# (it used to terminate: the power failure was not a std::exception).
v = Vmm(vmm, ["--fresh", "--nvm", f"{d}/nvm2", "--memory", "64M", "--monitor", sock, guest])
try:
    m = Monitor(sock, timeout=30)
    r = ready_cmd(m, "pause")  # the socket answers before the machine is attached to it
    check(r["ok"], f"pause: {r}")
    check(m.cmd("powerfail at=stopped")["ok"], "arm powerfail at=stopped")
    r = m.cmd("checkpoint")
    check(not r["ok"] and "power" in r.get("error", ""), f"checkpoint into a power failure: {r}")
    code = v.wait(timeout=30)
    check(code == 99, f"vmm exited {code} after the power failure, expected 99\n{v.dump()}")
finally:
    v.kill()
print("ok: monitor commands, errors, clients in turn and quit; a checkpoint into a power failure is refused")
