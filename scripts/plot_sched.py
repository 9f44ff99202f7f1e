#!/usr/bin/env python3
"""Plots the RTU scheduler's release-lateness distributions written by
sched-bench (bench-out/sched-lateness-<policy>-<load>.txt, one value in ns
per line) as CDFs on a log x axis. Usage: plot_sched.py BENCH_OUT PNG"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

src, png = sys.argv[1], sys.argv[2]
styles = {
    ("fifo", "idle"): ("SCHED_FIFO, idle", "tab:blue", "-"),
    ("fifo", "load"): ("SCHED_FIFO, stress-ng --cpu 8", "tab:blue", "--"),
    ("other", "idle"): ("SCHED_OTHER, idle", "tab:red", "-"),
    ("other", "load"): ("SCHED_OTHER, stress-ng --cpu 8", "tab:red", "--"),
}
fig, ax = plt.subplots(figsize=(8, 5))
for (policy, load), (label, color, ls) in styles.items():
    try:
        with open(f"{src}/sched-lateness-{policy}-{load}.txt") as f:
            values = sorted(max(int(line), 1000) / 1000 for line in f if line.strip())
    except FileNotFoundError:
        continue
    n = len(values)
    ax.plot(values, [(i + 1) / n for i in range(n)], color=color, linestyle=ls,
            label=f"{label} ({n} invocations)")
ax.set_xscale("log")
ax.set_xlabel("release lateness (µs, log scale; start of job − release time)")
ax.set_ylabel("fraction of invocations (skipped releases not included)")
ax.set_title("RTU dispatcher: release lateness, 60 % RT load on one core")
ax.axvline(100, color="grey", linewidth=0.8, linestyle=":")
ax.grid(True, which="both", alpha=0.3)
ax.legend(loc="lower right")
fig.tight_layout()
fig.savefig(png, dpi=110)
print(f"plot_sched: wrote {png}")
