#!/usr/bin/env python3
"""Plots the RTU scheduler's release-lateness distributions written by
sched-bench (bench-out/sched-lateness-<policy>-<load>.txt, one value in ns
per line) as tail distributions (fraction later than x, log-log, so that
1 in 10,000 is visible), with the lateness of the priority-99
witness thread that ran on the same CPU during the SCHED_FIFO configurations
(bench-out/sched-witness-fifo-<load>.tsv: due and woke columns, ns): where
the dispatcher's tail and the witness's tail coincide, the machine stalled.
Usage: plot_sched.py BENCH_OUT PNG"""
import csv
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


def tail(ax, values_ns, label, color, ls, width=1.5):
    values = sorted(max(v, 1000) / 1000 for v in values_ns)
    n = len(values)
    if n:
        ax.step(values, [(n - i - 1) / n if i < n - 1 else 0.5 / n for i in range(n)], where="post",
                color=color, linestyle=ls, linewidth=width, label=f"{label} ({n})")


fig, ax = plt.subplots(figsize=(9, 6.5))
for (policy, load), (label, color, ls) in styles.items():
    try:
        with open(f"{src}/sched-lateness-{policy}-{load}.txt") as f:
            tail(ax, [int(line) for line in f if line.strip()], label + ", invocations", color, ls)
    except FileNotFoundError:
        continue
for load, ls in (("idle", "-"), ("load", "--")):
    try:
        with open(f"{src}/sched-witness-fifo-{load}.tsv") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except FileNotFoundError:
        continue
    tail(ax, [int(r["woke"]) - int(r["due"]) for r in rows],
        f"witness (SCHED_FIFO 99) during SCHED_FIFO, {'idle' if load == 'idle' else 'stress-ng'}, wake-ups",
        "grey", ls, width=1.0)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_ylim(1e-5, 1.1)
ax.set_xlabel("release lateness x (µs, log scale; start of job − release time)")
ax.set_ylabel("fraction later than x (skipped releases not included)")
ax.set_title("RTU dispatcher: release lateness tail, 60 % RT load on one core")
ax.axvline(100, color="grey", linewidth=0.8, linestyle=":")
ax.axhline(1e-4, color="grey", linewidth=0.8, linestyle=":")
ax.grid(True, which="both", alpha=0.3)
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8)
fig.tight_layout()
fig.savefig(png, dpi=110)
print(f"plot_sched: wrote {png}")
