"""The crash explorer (`vmm crashtest`, issue 16).

1. A short exploration over every combination of policy, vCPUs and
   persistence finds no failure (each state: a power failure at a crash
   point, a block count or inside recovery; the recovery checked by the
   digest oracle and by the guest's ledger).
2. It can fail: with --inject-bug every recovery skips a page; the explorer
   must report failures, and each failure's printed replay command must
   reproduce exactly the same failure.
3. A replay is exact: replaying one segment twice gives the same block
   counts at every state.
4. The network check can fail: kvd's answers must wait for their checkpoint
   (external synchrony); with it off, the built-in peer hears "OK" for SETs
   that a power failure then takes back, and the explorer must say so, with
   a replay line that reproduces it.

argv: VMM GUEST CONFIG"""
import os
import re
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, fail, tmpdir  # noqa: E402

vmm, guest, base_config = (os.path.abspath(a) for a in sys.argv[1:4])
d = tmpdir()
config = os.path.join(d, "crashtest.toml")
with open(base_config) as f:
    text = f.read()
text = re.sub(r'(?m)^image = .*$', f'image = "{guest}"', text)
with open(config, "w") as f:
    f.write(text)


def crashtest(*args, timeout=240, cfg=config):
    p = subprocess.run([vmm, "crashtest", "--config", cfg, *args], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


# 1. No failure in a short exploration (16 combinations, 5 states each).
code, out, err = crashtest("--states", "80", "--per-segment", "5", "--jobs", "2", "--seed", "11")
summary = [l for l in out.splitlines() if l.startswith("crashtest:")]
check(code == 0 and summary, f"exploration: exit {code}\n{out}\n{err[-3000:]}")
m = re.search(r"crashtest: (\d+) states .* (\d+) failure\(s\)", summary[0])
check(m and int(m.group(1)) == 80 and m.group(2) == "0", f"unexpected summary: {summary[0]}")
kv = re.search(r"kvd: (\d+) SETs acknowledged .*, (\d+) read back", summary[0])
check(kv and int(kv.group(1)) > 0 and int(kv.group(2)) > 0, f"the network peer acknowledged or checked nothing: {summary[0]}")
print(summary[0])

# 2. An injected recovery bug is found, and every failure replays exactly.
code, out, err = crashtest("--states", "40", "--per-segment", "30", "--seed", "5", "--inject-bug")
check(code == 1, f"--inject-bug: the explorer found nothing (exit {code})\n{out}\n{err[-2000:]}")
fails = re.findall(r"^FAIL segment (\d+) \(([^)]*)\) state (\d+) \(([^)]*)\): (.*)\n  replay: vmm (.*)$", out, re.M)
check(fails, f"--inject-bug: no failure line with a replay command\n{out}")
for segment, combo, state, plan, what, replay in fails[:3]:
    args = shlex.split(replay)
    check(args[0] == "crashtest", f"replay line does not start with 'vmm crashtest': {replay}")
    args = [a if a != "configs/crashtest.toml" else config for a in args]
    p = subprocess.run([vmm, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    want = f"segment {segment} ({combo}) state {state}: {plan}: {what}"
    check(p.returncode == 1 and want in p.stdout.splitlines(),
          f"replay of '{replay}' did not reproduce the failure (exit {p.returncode})\nwant: {want}\ngot:\n{p.stdout}")
print(f"--inject-bug: {len(fails)} failure(s) found; {min(3, len(fails))} replayed exactly")


# 3. A replay is exact: the same block counts at every state, twice.
def states_of(stderr):
    # the block counts of every state, without the log's time stamp and the host time each took
    return [re.sub(r"^\[[^]]*\] | after [0-9.]+ ms", "", l) for l in stderr.splitlines() if "[crashtest]" in l and "state:" in l]


runs = []
for _ in range(2):
    code, out, err = crashtest("--segment", "13", "--replay", "5")
    check(code == 0, f"replay of segment 13: exit {code}\n{out}\n{err[-2000:]}")
    runs.append((out, states_of(err)))
check(len(runs[0][1]) == 6, f"replay of segment 13 ran {len(runs[0][1])} states, not 6:\n{runs[0][0]}")
if runs[0] != runs[1]:
    fail("two replays of segment 13 differ:\n" + "\n".join(runs[0][1]) + "\n---\n" + "\n".join(runs[1][1]))
print("replay of segment 13 states 0-5: identical block counts twice")

# 4. Without external synchrony, acknowledged SETs are lost, and the explorer says so.
nosync = os.path.join(d, "crashtest-nosync.toml")
check(re.search(r'(?m)^peer = "kv"$', text), "the crash explorer's config has no network peer")
with open(nosync, "w") as f:
    f.write(re.sub(r'(?m)^image = .*$', f'image = "{guest}"', text) + "external_sync = false\n")
code, out, err = crashtest("--states", "16", "--per-segment", "4", "--seed", "5", cfg=nosync)
fails = re.findall(r"^FAIL segment (\d+) \(([^)]*)\) state (\d+) \(([^)]*)\): (kvd lost acknowledged data: .*)\n  replay: vmm (.*)$",
                   out, re.M)
check(code == 1 and fails, f"external_sync = false: no lost acknowledgement found (exit {code})\n{out}\n{err[-2000:]}")
segment, combo, state, plan, what, replay = fails[0]
p = subprocess.run([vmm, *shlex.split(replay)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
want = f"segment {segment} ({combo}) state {state}: {plan}: {what}"
check(p.returncode == 1 and want in p.stdout.splitlines(), f"replay of '{replay}' did not reproduce\nwant: {want}\ngot:\n{p.stdout}")
print(f"external_sync = false: {len(fails)} lost acknowledgement(s) found, the first replayed exactly: {what[:100]}")
print("ok")
