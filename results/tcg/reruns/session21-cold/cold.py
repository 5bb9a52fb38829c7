"""Cold starts after SIGKILL: N per vCPU count, interleaved; prints the vmm's own figures and start-up stamps.

    cold.py VMM GUEST N [variant=NAME[:VAR=VALUE]]... [VMM ARGS]

Each variant (an environment variable set for the restarted vmm) runs beside the others at every vCPU count;
its lines and summaries start with its name. Two keys are not environment variables: VMM=PATH runs another
vmm binary, CPU=N starts the restarted vmm on host CPU N (its affinity before exec; vmm places its threads itself). zone-ab.txt: variant=huge variant=zone:HSLS_ZONE=262144."""
import os, re, signal, subprocess, sys, time, statistics
vmm, guest, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
variants = {}
for a in sys.argv[4:]:
    if a.startswith("variant="):
        name, _, env = a[len("variant="):].partition(":")
        variants[name] = dict([env.split("=", 1)]) if env else {}
extra = [a for a in sys.argv[4:] if not a.startswith("variant=")]
named = bool(variants)
variants = variants or {"": {}}
wl = "init=memstress:pages=1000,rate=20000,hot=10,hotpct=90,threads=1;ledger:threads=2"
res = {(v, c): [] for c in (1, 2) for v in variants}
for i in range(n):
    for var, vc in res:
        nvm = f"/dev/shm/cold-{vc}.nvm"
        env = dict(variants[var])
        base = [env.pop("VMM", vmm), "run", guest, "--accel", "tcg", "--memory", "256M", "--vcpus", str(vc), "--nvm", nvm,
                "--ckpt-interval", "10", "--no-console", "--cmdline", wl] + extra
        p = subprocess.Popen(base + ["--fresh"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.8)
        p.send_signal(signal.SIGKILL); p.wait()
        cpu = env.pop("CPU", None)
        pin = (lambda: os.sched_setaffinity(0, {int(cpu)})) if cpu is not None else None
        p = subprocess.Popen(base + ["--log-level", "debug"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=dict(os.environ, **env), preexec_fn=pin)
        stamps, line = [], None
        for l in p.stderr:
            m = re.search(r"start-up: (.*) at ([\d.]+) ms \((\d+) page faults", l)
            if m: stamps.append((m.group(1), float(m.group(2)), int(m.group(3))))
            if "resumed checkpoint" in l:
                line = l; break
        time.sleep(0.1)
        p.send_signal(signal.SIGKILL); p.wait()
        m = re.search(r"\(([\d.]+) ms since vmm started, ([\d.]+) ms since its process began\)", line or "")
        r = {"started": float(m.group(1)), "began": float(m.group(2)), "stamps": stamps}
        res[(var, vc)].append(r)
        print(*([var] if named else []), vc, r["began"], r["started"],
              " ".join(f"{s[0].split()[0]}={s[1]:.2f}/{s[2]}" for s in stamps), flush=True)
for (var, vc), rs in res.items():
    b = [r["began"] for r in rs]
    print(f"{var + ' ' if named else ''}vcpus={vc}: since began median {statistics.median(b):.2f} min {min(b):.2f} "
          f"max {max(b):.2f}; since started median {statistics.median([r['started'] for r in rs]):.2f}")
