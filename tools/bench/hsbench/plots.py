"""Plots of the results with gnuplot, when it is installed."""
import os
import shutil
import subprocess

from .util import PARTS


def style_color(policy):
    return {"stop-and-copy": "rgb '#1f77b4'", "cow": "rgb '#d62728'", "hybrid": "rgb '#2ca02c'",
            "precopy": "rgb '#9467bd'"}.get(policy, "rgb '#7f7f7f'")


def style_point(vcpus):
    return {"1vCPU": 7, "2vCPU": 5}.get(vcpus, 9)


def write_series(out, name, series, style):
    """Writes NAME.dat, one block of sorted rows per series (in key order), and returns gnuplot's plot
    clauses for them: `style(key)` says how each is drawn."""
    blocks, plots = [], []
    for i, (key, rows) in enumerate(sorted(series.items())):
        blocks.append("\n".join(" ".join(str(v) for v in row) for row in sorted(rows)))
        plots.append(f"'{name}.dat' index {i} {style(key)}")
    with open(os.path.join(out, name + ".dat"), "w") as fh:
        fh.write("\n\n\n".join(blocks) + "\n")
    return plots


def write_plots(out, points):
    if not shutil.which("gnuplot"):
        return "gnuplot is not installed (`apt-get install -y gnuplot-nox`): no plots."
    made, failed = [], []

    def run(name, script):
        path = os.path.join(out, name + ".gp")
        with open(path, "w") as fh:
            fh.write(script)
        p = subprocess.run(["gnuplot", name + ".gp"], cwd=out, capture_output=True, text=True, timeout=60)
        if p.returncode == 0 and os.path.exists(os.path.join(out, name + ".png")):
            made.append(name + ".png")
        else:
            failed.append(f"{name}: {p.stderr.strip()[:200]}")

    term = "set terminal pngcairo size 1000,600 noenhanced font ',10'\n" \
        if "pngcairo" in subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True).stdout + \
        subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True).stderr \
        else "set terminal png size 1000,600 noenhanced\n"
    # 1. pause vs measured dirty pages, one series per policy and vCPU count
    series = {}
    for p in points:
        if p.get("pause_p50_us") is not None and p.get("pages_dirty_p50") is not None:
            series.setdefault(f"{p['policy']} {p['vcpus']}vCPU", []).append(
                (max(p["pages_dirty_p50"], 1), p["pause_p50_us"], p.get("pause_p99_us") or p["pause_p50_us"]))
    if series:
        def dirty_style(name):
            pol, vc = name.split(" ")
            return f"using 1:2:2:3 with yerrorbars lc {style_color(pol)} pt {style_point(vc)} ps 1.3 title '{name} (p50, bar to p99)'"
        plots = write_series(out, "pause_vs_dirty", series, dirty_style)
        run("pause_vs_dirty", term + "set output 'pause_vs_dirty.png'\nset logscale x\nset logscale y\n"
            "set xlabel 'pages dirtied per epoch (measured p50)'\nset ylabel 'stop-the-world pause (us)'\n"
            "set title 'Checkpoint pause vs dirty pages (PVM nested host: each exit ~25 us)'\nset key top left\n"
            "set grid\nplot " + ", \\\n  ".join(plots) + "\n")
    # 2. pause breakdown, stacked bars
    rows = [p for p in points if p.get("pause_mean_us") is not None]
    if rows:
        with open(os.path.join(out, "pause_breakdown.dat"), "w") as fh:
            fh.write("# label " + " ".join(PARTS) + "\n")
            for p in rows:
                lab = f"{p['policy'][:5]}/{p['vcpus']}v/d{p['dirty']}/{float(p['interval']):g}ms"
                fh.write(lab + " " + " ".join(str(p.get(f"{x}_mean_us") or 0) for x in PARTS) + "\n")
        cols = ", ".join(f"'' using {i + 2} title '{x}'" if i else f"'pause_breakdown.dat' using 2:xtic(1) title '{x}'"
                         for i, x in enumerate(PARTS))
        run("pause_breakdown", term.replace("1000,600", f"{max(1000, 40 * len(rows))},650") +
            "set output 'pause_breakdown.png'\nset style data histograms\nset style histogram rowstacked\n"
            "set style fill solid 0.8 border -1\nset boxwidth 0.75\nset xtics rotate by -45\n"
            "set ylabel 'mean us per checkpoint'\nset key outside right\nset grid y\n"
            "set title 'Pause breakdown (policy/vCPUs/dirty/interval)'\nplot " + cols + "\n")
    # 3. overhead vs interval
    series = {}
    for p in points:
        if p.get("overhead_pct") is not None:
            series.setdefault((p["policy"], f"{p['vcpus']}vCPU", int(p["dirty"])), []).append(
                (float(p["interval"]), p["overhead_pct"]))
    if series:
        dirties = sorted({k[2] for k in series})
        plots = write_series(out, "overhead_vs_interval", series, lambda key: (
            f"using 1:2 with linespoints lc {style_color(key[0])} pt {style_point(key[1])} "
            f"dt {dirties.index(key[2]) + 1} lw 1.5 title '{key[0]} {key[1]} dirty={key[2]}'"))
        run("overhead_vs_interval", term + "set output 'overhead_vs_interval.png'\nset logscale x\n"
            "set xlabel 'checkpoint interval (ms)'\nset ylabel 'memstress throughput lost (%)'\n"
            "set title 'Runtime overhead vs checkpoint interval'\nset key outside right\nset grid\n"
            "plot " + ", \\\n  ".join(plots) + "\n")
    # 4. request latency CDFs of kvd, external synchrony on (solid) and off (dashed), one colour per point
    cdfs = [p for p in points if p.get("net_cdf_file") and os.path.exists(os.path.join(out, p["net_cdf_file"]))]
    if cdfs:
        colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
                   "#7f7f7f", "#bcbd22"]
        plots = []
        for i, p in enumerate(cdfs):
            lab = f"{p['policy']} {p['vcpus']}vCPU {float(p['interval']):g}ms" + \
                (f" dirty={p['dirty']}" if p.get("net_load") else "")
            c = colours[i % len(colours)]
            for col, mode, dt in ((2, "sync on", 1), (3, "sync off", 2)):
                plots.append(f"'{p['net_cdf_file']}' using (${col}/1000.0):1 with lines lw 2 dt {dt} "
                             f"lc rgb '{c}' title '{lab}, {mode}'")
        run("net_latency_cdf", term + "set output 'net_latency_cdf.png'\nset logscale x\n"
            "set xlabel 'request latency (ms), client send → reply'\nset ylabel 'fraction of requests'\n"
            "set yrange [0:1]\nset title 'kvd request latency CDF, external synchrony on (solid) and off (dashed)'\n"
            "set key bottom right\nset grid\nplot " + ", \\\n  ".join(plots) + "\n")
    note = ", ".join(f"`{m}`" for m in made) if made else "No plot (no finished point with data)."
    if failed:
        note += "\n\ngnuplot failed: " + "; ".join(failed)
    return note
