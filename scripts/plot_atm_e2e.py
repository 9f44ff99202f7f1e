#!/usr/bin/env python3
"""Plots scripts/bench-atm-e2e.sh's results (bench-out/atm-e2e/results.json)
in four panels: UDP goodput of each ATM run against the OC-3c physical limit
(with atm-bench's simulated-clock figure and the Ethernet baselines), the
receiver's goodput per 250 ms, each CBR VC's received cell rate per 250 ms
against its PCR, and the most cells A put in any window against the cell
clock's limit, by capture. Usage: plot_atm_e2e.py RESULTS PNG"""
import json
import sys

from benchdata import pyplot

plt = pyplot()
src, png = sys.argv[1], sys.argv[2]
r = json.load(open(src))
meta = r["meta"]
atm = [g for g in r["goodput"] if g["link"] == "atm"]
eth = [g for g in r["goodput"] if g["link"] == "ethernet"]

fig, ((ax_g, ax_t), (ax_c, ax_w)) = plt.subplots(2, 2, figsize=(15, 10))

# Goodput: each ATM run's UDP payload rate (solid) beside its limit (outline), the simulated clock's for reference.
width = 0.38
labels = []
for i, g in enumerate(atm):
    ax_g.bar(i - width / 2, g["udp_mbps"], width, color="tab:blue", label="measured, two rtud" if i == 0 else None)
    ax_g.bar(i + width / 2, g["udp_limit_mbps"], width, facecolor="none", edgecolor="tab:blue", hatch="//",
             label="physical limit" if i == 0 else None)
    ax_g.annotate(f"{g['udp_mbps']:.2f}\n{100 * g['udp_mbps'] / g['udp_limit_mbps']:.2f} %", (i - width / 2, g["udp_mbps"]),
                  ha="center", va="bottom", fontsize=7)
    labels.append(f"{g['mtu']}\n{g['cells_per_frame']} cells\n{'paced' if g['pacing'] else 'unpaced'}")
for j, b in enumerate(sorted(r.get("atm_bench_goodput", []), key=lambda b: -b["mtu"])):
    x = len(atm) + j
    ax_g.bar(x - width / 2, b["udp_mbps"], width, color="tab:gray", label="atm-bench, simulated clock" if j == 0 else None)
    ax_g.bar(x + width / 2, b["udp_limit_mbps"], width, facecolor="none", edgecolor="tab:blue", hatch="//")
    ax_g.annotate(f"{b['udp_mbps']:.2f}", (x - width / 2, b["udp_mbps"]), ha="center", va="bottom", fontsize=7)
    labels.append(f"{b['mtu']:.0f}\nsimulated\nclock")
ax_g.set_xticks(range(len(labels)), labels, fontsize=7)
ax_g.set_xlabel("MTU, cells per carrier frame, sender", fontsize=8)
ax_g.set_ylim(0, 175)
ax_g.set_ylabel("UDP payload Mbit/s at the receiver")
ax_g.set_title("UDP over the emulated OC-3c, A → B, vs the physical limit")
if eth:
    ax_g.text(0.02, 0.97, "rtud over Ethernet, same veth and programs:\n"
              + "\n".join(f"  MTU {e['mtu']}: {e['udp_mbps']:.0f} Mbit/s" for e in eth),
              transform=ax_g.transAxes, va="top", fontsize=8)
ax_g.legend(loc="upper right", fontsize=8)
ax_g.grid(True, axis="y", alpha=0.3)

# The receiver's goodput per 250 ms, as a share of the limit.
for g in atm:
    iv = g["intervals"]
    per_s = [4 * n * g["payload"] * 8 / 1e6 for n in iv]
    ax_t.plot([i / 4 for i in range(len(iv))], [100 * v / g["udp_limit_mbps"] for v in per_s],
              label=f"MTU {g['mtu']}, {g['cells_per_frame']} cells/frame, {'paced' if g['pacing'] else 'unpaced'}")
ax_t.axhline(99, color="k", lw=0.8, ls=":", label="99 % (issue 6)")
ax_t.set_ylim(90, 102)
ax_t.set_xlabel("s after the 1 s warm-up")
ax_t.set_ylabel("% of the physical limit, per 250 ms")
ax_t.set_title("Goodput per 250 ms at the receiving application")
ax_t.legend(fontsize=7, loc="lower left")
ax_t.grid(True, alpha=0.3)

# CBR VCs: received cells/s per 250 ms against the PCR.
for c in r["cbr"]:
    if not c["pcr"]:
        continue
    iv = c["intervals"]
    ax_c.plot([i / 4 for i in range(len(iv))], [100 * n * 32 * 4 / c["pcr"] for n in iv],
              label=f"{c['vc']} PCR {c['pcr']:,}: {100 * c['share']:.2f} % overall")
ax_c.axhspan(99, 101, color="tab:green", alpha=0.12, label="±1 % (issue 6)")
ax_c.set_ylim(90, 110)
ax_c.set_xlabel("s after the 1 s warm-up")
ax_c.set_ylabel("% of PCR, per 250 ms (whole 32-cell packets)")
ubr = next((c for c in r["cbr"] if not c["pcr"]), None)
ax_c.set_title("Three CBR VCs and a backlogged UBR VC on one line"
               + (f" (UBR: {ubr['cells_per_s']:,.0f} cells/s of 3,207.5 left)" if ubr else ""), fontsize=10)
ax_c.legend(fontsize=7, loc="lower left")
ax_c.grid(True, alpha=0.3)

# The cell clock: the most cells in any window, against 353,207.5 x W + 1, per capture.
windows = ["1", "2.5", "5", "10", "100"]
series = []
for run in ("atm-9180", "atm-1500", "cbr-atm-1500"):
    c = r["clock"].get(run)
    if c is None:
        continue
    series.append((f"{run}: carrier frames, hand-off time", c["handoff"]["most_cells"], c["handoff"]["limit"]))
    for vc, v in c["slots"].items():
        if run != "cbr-atm-1500" or v["pcr"]:
            series.append((f"{run}: PDU slot times, {vc}" + (" / PCR" if v["pcr"] else ""), v["most_cells"], v["limit"]))
bw = 0.8 / max(1, len(series))
for k, (name, most, lim) in enumerate(series):
    ax_w.bar([i - 0.4 + bw * (k + 0.5) for i in range(len(windows))], [most[w] / lim[w] for w in windows], bw,
             label=name, color=plt.cm.tab20(k % 20))
ax_w.axhline(1, color="k", lw=0.8)
ax_w.set_xticks(range(len(windows)), [f"{w} ms" for w in windows])
ax_w.set_ylabel("most cells in a window W / limit")
ax_w.set_title("Cell clock in A's captures: limit 353,207.5 × W + 1 (a CBR VC: PCR × (W + CDVT) + 1)", fontsize=10)
ax_w.legend(fontsize=6, ncol=2, loc="upper right")
ax_w.grid(True, axis="y", alpha=0.3)

fig.suptitle(f"Two rtud over the emulated OC-3c (veth, AF_PACKET), {meta['seconds']} s a run — {meta['utc']}, "
             f"commit {meta['commit']}, {meta['cpus']} vCPUs ({meta['cpu']})", fontsize=10)
fig.tight_layout()
fig.savefig(png, dpi=80)
print(f"plot: {png}")
