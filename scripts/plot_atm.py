#!/usr/bin/env python3
"""Plots atm-bench's results (scripts/bench-atm.sh writes them to
bench-out/atm.jsonl, one JSON object a line) in three panels: UDP and IP
goodput per MTU against the OC-3c physical limit, each CBR VC's received
cell rate against its PCR (and what UBR got of the rest), and the CPU cost
per cell of segmentation and reassembly. Usage: plot_atm.py RESULTS PNG"""
import sys

import matplotlib.ticker

from benchdata import json_lines, pyplot

plt = pyplot()
src, png = sys.argv[1], sys.argv[2]
rows, meta = json_lines(src)


def sel(bench):
    return [r for r in rows if r["bench"] == bench]


fig, (ax_g, ax_c, ax_p) = plt.subplots(1, 3, figsize=(15, 5.2))

# Goodput: measured (solid) beside the limit (outline), UDP payload and IP, per MTU.
goodput = sorted(sel("goodput"), key=lambda r: -r["mtu"])
width = 0.2
for i, r in enumerate(goodput):
    for j, (kind, color) in enumerate((("udp", "tab:blue"), ("ip", "tab:green"))):
        x = i + (j - 0.5) * 2 * width
        got, limit = r[f"{kind}_mbps"], r[f"{kind}_limit_mbps"]
        ax_g.bar(x - width / 2, got, width, color=color,
                 label=f"{kind.upper()} {'payload ' if kind == 'udp' else ''}measured" if i == 0 else None)
        ax_g.bar(x + width / 2, limit, width, facecolor="none", edgecolor=color, hatch="//",
                 label=f"{kind.upper()} physical limit" if i == 0 else None)
        ax_g.annotate(f"{got:.2f}\n{100 * got / limit:.2f} %", (x - width / 2, got), ha="center",
                      va="bottom", fontsize=7)
ax_g.set_xticks(range(len(goodput)),
                [f"MTU {r['mtu']:.0f}\n({r['cells_per_packet']:.0f} cells/packet)" for r in goodput])
ax_g.set_ylabel("Mbit/s (1 s of simulated time)")
ax_g.set_ylim(0, 175)
ax_g.set_title("UDP over the emulated OC-3c vs the physical limit")
ax_g.legend(loc="upper center", fontsize=8, ncol=2)
ax_g.grid(True, axis="y", alpha=0.3)

# CBR VCs: received rate against the PCR (a black bar per VC), and UBR against what CBR leaves.
shares = sorted(sel("cbr"), key=lambda r: r["vci"]) + sel("ubr")
for i, r in enumerate(shares):
    cbr = r["bench"] == "cbr"
    target = r["pcr"] if cbr else r["left_by_cbr"]
    ax_c.bar(i, r["cells_per_second"], 0.6, color="tab:orange" if cbr else "tab:gray")
    ax_c.hlines(target, i - 0.4, i + 0.4, color="black", linewidth=2)
    note = f"{100 * r['cells_per_second'] / target:.2f} % of PCR" if cbr else f"{r['cells_per_second']:,.0f} cells/s"
    ax_c.annotate(note, (i, max(target, r["cells_per_second"])), ha="center", va="bottom", fontsize=8,
                  xytext=(0, 3), textcoords="offset points")
ax_c.set_xticks(range(len(shares)),
                [f"VC {r['vpi']:.0f}/{r['vci']:.0f}\n" + (f"CBR\nPCR {r['pcr']:,.0f}" if r["bench"] == "cbr"
                                                         else f"UBR\nleft: {r['left_by_cbr']:,.1f}")
                 for r in shares], fontsize=8)
ax_c.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
ax_c.set_ylabel("cells/s received (black: PCR, or what CBR leaves)")
ax_c.set_title("Three CBR VCs and a backlogged UBR VC sharing the line")
ax_c.grid(True, axis="y", alpha=0.3)

# CPU per cell.
cpu = sorted(sel("cpu"), key=lambda r: -r["sdu"])
for j, (key, label, color) in enumerate((("segmentation_ns_per_cell", "segmentation", "tab:purple"),
                                         ("reassembly_ns_per_cell", "reassembly", "tab:cyan"))):
    xs = [i + (j - 0.5) * 0.35 for i in range(len(cpu))]
    ax_p.bar(xs, [r[key] for r in cpu], 0.35, color=color, label=label)
    for x, r in zip(xs, cpu):
        ax_p.annotate(f"{r[key]:.1f}", (x, r[key]), ha="center", va="bottom", fontsize=8)
ax_p.set_xticks(range(len(cpu)), [f"SDU {r['sdu']:.0f} B\n({r['cells_per_sdu']:.0f} cells)" for r in cpu])
ax_p.set_ylabel(f"CPU ns per cell (median of {meta.get('rounds', '?')} rounds)")
ax_p.set_title("CPU cost per cell")
ax_p.legend(fontsize=8)
ax_p.grid(True, axis="y", alpha=0.3)

where = ", ".join(str(v) for v in (meta.get("utc"), meta.get("commit") and f"commit {meta['commit']}",
                                    meta.get("cpu"), meta.get("cpus") and f"{meta['cpus']} CPUs",
                                    "load_average" in meta and f"load average {meta['load_average']:.1f}") if v)
fig.suptitle(f"Emulated 155 Mbps ATM adaptor (atm-bench)\n{where}", fontsize=10)
fig.tight_layout()
fig.savefig(png, dpi=110)
print(f"plot_atm: wrote {png}")
