#!/usr/bin/env python3
"""Summarises and plots scripts/bench-udp.sh's runs (issue 4, item 6).

Reads OUT/results.jsonl (one object per run), writes OUT/summary.md and
OUT/summary.json, and the plots DOCS/udp-throughput.png, udp-rtt.png,
udp-overload.png and udp-reservations.png (each only when its runs exist).
Usage: plot_udp.py OUT DOCS

Figures are medians over the rounds; ratios are medians of the per-round
ratios (rtud and its baseline ran back to back in each round).
"""
import json
import statistics
import sys

from benchdata import json_lines, pyplot

plt = pyplot()
out, docs = sys.argv[1], sys.argv[2]
runs, meta = json_lines(f"{out}/results.jsonl")
summary = {"meta": meta}
md = []


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def sel(bench, **kw):
    return [r for r in runs if r.get("bench") == bench and all(r.get(k) == v for k, v in kw.items())]


def fmt(v, digits=0, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float) and digits == 0 and abs(v) >= 1e6:
        return f"{v / 1e6:.2f} M{unit}"
    if digits == 0:
        return f"{v:,.0f}{unit}"
    return f"{v:,.{digits}f}{unit}"


def pct(v, digits=1):
    return "–" if v is None else f"{100 * v:.{digits}f} %"


def ratio(a, b):
    return a / b if a is not None and b else None


def per_round_ratio(bench, key, a, b, **kw):
    rs = []
    for rnd in sorted({r["round"] for r in sel(bench, **kw)}):
        x = [key(r) for r in sel(bench, impl=a, round=rnd, **kw)]
        y = [key(r) for r in sel(bench, impl=b, round=rnd, **kw)]
        if x and y and x[0] is not None and y[0]:
            rs.append(x[0] / y[0])
    return med(rs), rs


def per_datagram_ns(r, rate):
    """Receiver CPU ns per datagram of run r at `rate` datagrams/s (None when either is unknown)."""
    c = (r.get("cpu") or {}).get("receiver_cpu")
    return c * 1e9 / rate if c is not None and rate else None


def rx_pps(r):
    return (r.get("rx") or {}).get("pps")


def node_drops(rx):
    """Datagrams lost inside udp-node: AF_PACKET ring (kernel), channel, app ring."""
    if not rx:
        return None
    c = rx.get("counters", {})
    channel = rx.get("channel_dropped", 0) if rx.get("mode") == "sink" else sum(s["channel_dropped"] for s in rx.get("streams", []))
    return {"link": c.get("link_rx_dropped", 0), "channel": channel, "ring": rx.get("ring_dropped", 0)}


md.append(f"Run of {meta.get('date', '?')} (commit {meta.get('commit', '?')}, kernel {meta.get('kernel', '?')}, "
          f"{meta.get('cpus', '?')} vCPUs, load average {meta.get('loadavg', '?')} at the start): "
          f"{meta.get('rounds', '?')} rounds, {meta.get('seconds', '?')} s per run; medians over rounds.\n")

# ---- 1. throughput ----
def rtud_impls(bench):
    """The rtud receivers measured in `bench`, one per AF_PACKET receive ring (bench-udp.sh --rings)."""
    return [i for i in ("rtud-v2", "rtud-v3") if sel(bench, impl=i)]


def ring_of(impl):
    return impl.split("-", 1)[1].upper()


if sel("tput"):
    md.append("### Throughput, kernel sender (udptool send, burst 32) -> socket\n")
    md.append("| payload | rtud ring | rtud datagrams/s | rtud Mbit/s | kernel datagrams/s | kernel Mbit/s | rtud / kernel "
              "(per-round ratios) | lost in rtud | lost in kernel | receiver CPU share rtud / kernel | "
              "receiver CPU ns per datagram rtud / kernel |")
    md.append("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    tp = {}
    impls = rtud_impls("tput")
    for size in (64, 1472):
        row = {"ratio": {}, "ratios": {}}
        for impl in impls + ["kernel"]:
            rs = sel("tput", impl=impl, size=size)
            lost = [((r["tx"] or {}).get("sent", 0) - (r["rx"] or {}).get("received", 0)) / max(1, (r["tx"] or {}).get("sent", 1))
                    for r in rs]
            row[impl] = {"pps": med([rx_pps(r) for r in rs]),
                         "mbps": med([(r.get("rx") or {}).get("mbps") for r in rs]),
                         "sender_pps": med([(r.get("tx") or {}).get("pps") for r in rs]),
                         "lost": med(lost), "receiver_cpu": med([r["cpu"].get("receiver_cpu") for r in rs]),
                         "receiver_ns": med([per_datagram_ns(r, rx_pps(r)) for r in rs]),
                         "all_pps": [rx_pps(r) for r in rs]}
        K = row["kernel"]
        for impl in impls:
            rm, rs_ = per_round_ratio("tput", rx_pps, impl, "kernel", size=size)
            row["ratio"][impl], row["ratios"][impl] = rm, rs_
            R = row[impl]
            md.append(f"| {size} B | {ring_of(impl)} | {fmt(R['pps'])} | {fmt(R['mbps'], 0)} | {fmt(K['pps'])} | {fmt(K['mbps'], 0)} | "
                      f"**{fmt(rm, 2)}** ({', '.join(f'{x:.2f}' for x in rs_)}) | {pct(R['lost'], 2)} | {pct(K['lost'], 2)} | "
                      f"{pct(R['receiver_cpu'], 0)} / {pct(K['receiver_cpu'], 0)} | {fmt(R['receiver_ns'])} / {fmt(K['receiver_ns'])} |")
        if len(impls) == 2:
            row["v2_over_v3"], row["v2_over_v3_ratios"] = per_round_ratio("tput", rx_pps, "rtud-v2", "rtud-v3", size=size)
        tp[size] = row
    summary["tput"] = tp
    if len(impls) == 2:
        md.append("\nrtud V2 / V3 ring, datagrams/s (median of per-round ratios): " + "; ".join(
            f"{size} B {fmt(tp[size]['v2_over_v3'], 2)} ({', '.join(f'{x:.2f}' for x in tp[size]['v2_over_v3_ratios'])})"
            for size in (64, 1472)))
    md.append("")

# ---- 2. capacity ----
if sel("cap"):
    md.append("### Receive capacity of one socket under an unpaced flood (udptool flood, TX ring)\n")
    md.append("| payload | flood offered /s | rtud → application delivered/s (lost: link ring / channel / app ring) | "
              "rtud → upcall delivered/s (channel drops) | C loop took in /s | udp-node CPU ns per datagram: "
              "application / upcall | C loop CPU ns per frame | CPU ratio rtud (application) / C | "
              "CPU-bound estimate rtud application / upcall / C loop, per s | C loop drain rate /s |")
    md.append("|---|---:|---|---|---:|---|---:|---:|---|---:|")
    cap = {}
    for size in (64, 1472):
        s, u, l = sel("cap", impl="rtud-sink", size=size), sel("cap", impl="rtud-upcall", size=size), sel("cap", impl="linkloop", size=size)
        offered = med([(r["tx"] or {}).get("pps") for r in s + u + l])
        sink = med([rx_pps(r) for r in s])
        drops = [node_drops(r["rx"]) for r in s]
        dl = {k: med([d[k] for d in drops if d]) for k in ("link", "channel", "ring")}
        up = med([r["rx"]["streams"][0]["pps"] if r.get("rx") else None for r in u])
        upd = med([r["rx"]["streams"][0]["channel_dropped"] if r.get("rx") else None for r in u])
        wall = med([(r["rx"] or {}).get("wall_fps") for r in l])
        drain = med([(r["rx"] or {}).get("drain_fps") for r in l])
        ns = {"sink": med([per_datagram_ns(r, rx_pps(r)) for r in s]),
              "upcall": med([per_datagram_ns(r, r["rx"]["streams"][0]["pps"]) for r in u if r.get("rx")])}
        lcpu = med([(r["rx"] or {}).get("cpu", 0) * 1e9 / max(1, (r["rx"] or {}).get("frames", 1)) for r in l])
        est = {k: (1e9 / v if v else None) for k, v in (("sink", ns["sink"]), ("upcall", ns["upcall"]), ("c", lcpu))}
        cap[size] = {"offered": offered, "sink": sink, "sink_drops": dl, "upcall": up, "upcall_channel_dropped": upd,
                     "linkloop_wall": wall, "linkloop_drain": drain, "receiver_ns_per_datagram": ns,
                     "linkloop_cpu_ns_per_frame": lcpu, "cpu_bound_estimate": est,
                     "all_sink": [rx_pps(r) for r in s], "all_upcall": [r["rx"]["streams"][0]["pps"] for r in u if r.get("rx")]}
        md.append(f"| {size} B | {fmt(offered)} | **{fmt(sink)}** ({fmt(dl['link'])} / {fmt(dl['channel'])} / {fmt(dl['ring'])}) | "
                  f"{fmt(up)} ({fmt(upd)}) | {fmt(wall)} | {fmt(ns['sink'])} / {fmt(ns['upcall'])} | {fmt(lcpu)} | "
                  f"{fmt(ratio(ns['sink'], lcpu), 1)} | {fmt(est['sink'])} / {fmt(est['upcall'])} / {fmt(est['c'])} | {fmt(drain)} |")
    summary["cap"] = cap
    md.append("\n(Receiver CPU = CPU time of every thread of udp-node (schedstat) over the interval; per datagram: "
              "÷ datagrams delivered. linkloop's is its own CPU time (getrusage) ÷ frames. The kernel's part of the "
              "receive path, the copy into the AF_PACKET ring, runs on the sender's CPU and is in neither.)\n")

# ---- 3. RTT: closed loop (rtt) and one request at a time (sparse) ----
def rtt_table(bench, title, sizes):
    md.append(f"### {title}\n")
    md.append("| payload | rtud ring | rtud p50 µs | rtud p99 µs | kernel p50 µs | kernel p99 µs | p50 rtud/kernel | "
              "p99 rtud/kernel | max µs rtud / kernel (worst round) | lost rtud / kernel |")
    md.append("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    rt = {}
    impls = rtud_impls(bench)
    for size in sizes:
        row = {}
        for impl in impls + ["kernel"]:
            rs = [r["rtt"] for r in sel(bench, impl=impl, size=size) if r.get("rtt")]
            row[impl] = {k: med([x.get(k) for x in rs]) for k in ("p50_us", "p90_us", "p99_us", "mean_us", "min_us")}
            row[impl]["max_us"] = max((x.get("max_us") or 0 for x in rs), default=None)
            row[impl]["lost"] = sum(x.get("lost", 0) for x in rs)
            row[impl]["rounds"] = [{k: x.get(k) for k in ("p50_us", "p99_us", "max_us")} for x in rs]
        K = row["kernel"]
        for impl in impls:
            R = row[impl]
            for q in ("p50_us", "p99_us"):
                R[f"{q}_ratio"], R[f"{q}_ratios"] = per_round_ratio(bench, lambda r: (r.get("rtt") or {}).get(q), impl,
                                                                    "kernel", size=size)
            md.append(f"| {size} B | {ring_of(impl)} | {fmt(R['p50_us'], 1)} | {fmt(R['p99_us'], 1)} | {fmt(K['p50_us'], 1)} | "
                      f"{fmt(K['p99_us'], 1)} | **{fmt(R['p50_us_ratio'], 2)}** | **{fmt(R['p99_us_ratio'], 2)}** | "
                      f"{fmt(R['max_us'], 0)} / {fmt(K['max_us'], 0)} | {R['lost']} / {K['lost']} |")
        rt[size] = row
    summary[bench] = rt
    md.append("")


if sel("rtt"):
    rtt_table("rtt", "Request/response round trip (udptool rtt, one datagram in flight, closed loop)", (64, 1472))
if sel("sparse"):
    rtt_table("sparse", f"Sparse round trips (one request per udptool rtt process, 2 ms apart, "
                        f"{meta.get('sparse_count', '?')} per round)", (64,))

# ---- 4. overload ----
if sel("overload"):
    ovs = {}
    for consumer, what in (("app", "in the receiving thread (udp-node sink --work-ns)"),
                           ("upcall", "in the upcall on the core (udp-node streams --work-ns)")):
        rs_all = sel("overload", consumer=consumer)
        if not rs_all:
            continue
        capacity = next((r["pps"] for r in runs if r.get("bench") == "overload-capacity" and r.get("consumer") == consumer), None)
        work = rs_all[0].get("work_ns")

        def delivered(r):
            rx = r.get("rx") or {}
            return rx.get("pps") if rx.get("mode") == "sink" else (rx.get("streams") or [{}])[0].get("pps")
        md.append(f"### Overload (LRP), consumer {consumer}: the application spends {work} ns per datagram {what}; "
                  f"64-byte flood paced at k × capacity {fmt(capacity)}/s (median delivered under the unpaced flood)\n")
        md.append("| k | asked /s | offered (achieved) /s | delivered /s | delivered / peak | dropped at link ring | "
                  "at channel | at app ring | receiver CPU share |")
        md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        pts = []
        for k in sorted({str(r["factor"]) for r in rs_all}, key=lambda f: float("inf") if f == "max" else float(f)):
            rs = [r for r in rs_all if str(r["factor"]) == k]
            d = [node_drops(r["rx"]) for r in rs]
            pts.append({"factor": k, "asked": med([r["rate"] for r in rs if r["rate"]]),
                        "offered": med([(r["tx"] or {}).get("pps") for r in rs]),
                        "delivered": med([delivered(r) for r in rs]), "all_delivered": [delivered(r) for r in rs],
                        "all_offered": [(r["tx"] or {}).get("pps") for r in rs],
                        "link": med([x["link"] for x in d if x]), "channel": med([x["channel"] for x in d if x]),
                        "ring": med([x["ring"] for x in d if x]), "cpu": med([r["cpu"].get("receiver_cpu") for r in rs])})
        peak = max((p["delivered"] or 0) for p in pts) if pts else None
        for p in pts:
            p["of_peak"] = ratio(p["delivered"], peak)
            label = "unpaced" if p["factor"] == "max" else p["factor"]
            md.append(f"| {label} | {fmt(p['asked'])} | {fmt(p['offered'])} | {fmt(p['delivered'])} | **{pct(p['of_peak'])}** | "
                      f"{fmt(p['link'])} | {fmt(p['channel'])} | {fmt(p['ring'])} | {pct(p['cpu'], 0)} |")
        md.append("")
        ovs[consumer] = {"capacity": capacity, "work_ns": work, "peak": peak, "points": pts}
    summary["overload"] = ovs

# ---- 5. reservations ----
CONFIGS = [("res-idle", "reservations on, SCHED_FIFO, idle"), ("nores-idle", "reservations off, SCHED_OTHER, idle"),
           ("res-stress", "reservations on, SCHED_FIFO, stress-ng --cpu 8"),
           ("nores-stress", "reservations off, SCHED_OTHER, stress-ng --cpu 8")]


def stream_shares(s):
    """Share of the reserved rate over the window and in its worst 100 ms interval."""
    iv = s.get("intervals") or []
    rate = s.get("reserved_pps") or 0
    if not iv or rate <= 0:
        return None, None, None
    return sum(iv) / (len(iv) * 0.1 * rate), min(iv) / (0.1 * rate), sum(iv) / (len(iv) * 0.1)


FLAVOURS = {"light": "light flood consumer: 64-byte flood, the upcall only counts",
            "hungry": "CPU-hungry flood consumer: 1472-byte flood, the upcall spends {work} ns per datagram"}
if sel("rtu"):
    summary["rtu"] = {}
    for flavour in ("light", "hungry"):
        fr = sel("rtu", flavour=flavour)
        if not fr:
            continue
        desc = FLAVOURS[flavour].format(work=fr[0].get("flood_work_ns"))
        md.append(f"### Reservations under load (RTU), {desc}: share of each stream's reserved rate received\n")
        ports = []
        for r in fr:
            for s in (r.get("rx") or {}).get("streams", []):
                if s["port"] not in ports:
                    ports.append(s["port"])
        first = next(r for r in fr if r.get("rx"))["rx"]["streams"]
        rates = {s["port"]: s["reserved_pps"] for s in first}
        md.append("| configuration | " + " | ".join(f"port {p} ({rates[p]:,.0f}/s) median / worst 100 ms" for p in ports[:-1])
                  + f" | flood port {ports[-1]} delivered/s | flood offered/s | lost in the AF_PACKET ring | "
                  "reserved streams' channel drops | receiver CPU share |")
        md.append("|---|" + "---:|" * (len(ports) - 1) + "---:|---:|---:|---:|---:|")
        rtu = {}
        for key, label in CONFIGS:
            rs = [r for r in fr if r.get("config") == key and r.get("rx")]
            if not rs:
                continue
            row = {"label": label, "streams": {}}
            cells = []
            for p in ports:
                ss = [next(s for s in r["rx"]["streams"] if s["port"] == p) for r in rs]
                shares = [stream_shares(s) for s in ss]
                if ss[0].get("reserved_pps"):
                    row["streams"][p] = {"reserved_pps": ss[0]["reserved_pps"], "share": med([x[0] for x in shares]),
                                         "worst_interval": min(x[1] for x in shares), "all_share": [x[0] for x in shares],
                                         "worst_by_round": [x[1] for x in shares],
                                         "channel_dropped": med([s["channel_dropped"] for s in ss]),
                                         "overruns": med([s.get("overruns", 0) for s in ss])}
                    cells.append(f"**{pct(row['streams'][p]['share'])}** / {pct(row['streams'][p]['worst_interval'])}")
                else:
                    row["flood_delivered"] = med([s.get("pps") for s in ss])
                    cells.append(fmt(row["flood_delivered"]))
            row["flood_offered"] = med([(r.get("flood") or {}).get("pps") for r in rs])
            row["reserved_channel_dropped"] = med([sum(s["channel_dropped"] for s in r["rx"]["streams"] if s.get("reserved_pps"))
                                                   for r in rs])
            row["link_rx_dropped"] = med([r["rx"].get("counters", {}).get("link_rx_dropped", 0) for r in rs])
            row["receiver_cpu"] = med([r["cpu"].get("receiver_cpu") for r in rs])
            row["flood_work_ns"] = rs[0].get("flood_work_ns")
            rtu[key] = row
            md.append(f"| {label} | " + " | ".join(cells) + f" | {fmt(row['flood_offered'])} | {fmt(row['link_rx_dropped'])} | "
                      f"{fmt(row['reserved_channel_dropped'])} | {pct(row['receiver_cpu'], 0)} |")
        summary["rtu"][flavour] = rtu
        md.append("")
    md.append("(Share = datagrams counted in the stream's upcall per 100 ms interval ÷ the reserved rate; median over "
              "rounds of the whole window; worst = the lowest 100 ms interval of any round. \"lost in the AF_PACKET "
              "ring\": frames the kernel could not place in udp-node's 4 MiB receive ring, all sockets together, per run.)\n")

# ---- done-criteria ----
crit = []
if "tput" in summary and 1472 in summary["tput"]:
    for impl, r in summary["tput"][1472]["ratio"].items():
        crit.append(f"- 1472-byte receive throughput rtud ({ring_of(impl)} ring)/kernel, same run: {fmt(r, 2)} -> "
                    f"{'met' if r and r >= 1 else 'NOT met'}")
for consumer, ov in summary.get("overload", {}).items():
    four = next((p for p in ov["points"] if p["factor"] in ("4", "4.0")), None)
    if four:
        reached = (four["offered"] or 0) / ov["capacity"] if ov["capacity"] else 0
        crit.append(f"- overload ({consumer} consumer): at 4x ({fmt(four['offered'])}/s offered, {reached:.2f}x achieved) "
                    f"delivered {pct(four['of_peak'])} of the peak -> {'met' if (four['of_peak'] or 0) >= 0.95 else 'NOT met'}")
for flavour, rtu in summary.get("rtu", {}).items():
    if "res-stress" in rtu:
        worst = min(s["share"] for s in rtu["res-stress"]["streams"].values())
        line = (f"- reservations under stress-ng ({flavour} flood consumer): lowest median share of a reserved stream "
                f"{pct(worst, 2)} -> {'met' if worst >= 0.99 else 'NOT met'}")
        if "nores-stress" in rtu:
            w2 = min(s["share"] for s in rtu["nores-stress"]["streams"].values())
            line += f"; without reservations: lowest {pct(w2, 1)} (lost {pct(max(0.0, 1 - w2), 1)})"
        crit.append(line)
if crit:
    md.append("### Done-criteria (issue 4)\n")
    md.extend(crit)
    md.append("")

with open(f"{out}/summary.md", "w") as f:
    f.write("\n".join(md) + "\n")
with open(f"{out}/summary.json", "w") as f:
    json.dump(summary, f, indent=1, default=str)

# ---- plots ----
written = []
if "tput" in summary or "cap" in summary:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    ax = axes[0]
    if "tput" in summary:
        xs = range(2)
        colors = {"rtud-v2": "tab:blue", "rtud-v3": "tab:cyan", "kernel": "tab:grey"}
        impls = rtud_impls("tput") + ["kernel"]
        w = 0.8 / len(impls)
        for j, impl in enumerate(impls):
            off = (j - (len(impls) - 1) / 2) * w
            vals = [summary["tput"][s][impl]["pps"] or 0 for s in (64, 1472)]
            bars = ax.bar([x + off for x in xs], [v / 1e3 for v in vals], w * 0.95, color=colors[impl],
                          label="kernel socket" if impl == "kernel" else f"rtud socket (udp-node sink), {ring_of(impl)} ring")
            for b, s in zip(bars, (64, 1472)):
                mb = summary["tput"][s][impl]["mbps"] or 0
                ax.annotate(f"{mb:,.0f} Mbit/s", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                            va="bottom", fontsize=7)
            for x, s in zip(xs, (64, 1472)):
                for v in summary["tput"][s][impl]["all_pps"]:
                    if v:
                        ax.plot(x + off, v / 1e3, "k.", markersize=4)
        ax.set_xticks(list(xs), ["64-byte payload", "1472-byte payload"])
        ax.set_ylabel("datagrams received per second (thousands)")
        ax.set_title("kernel sender (SCHED_FIFO, burst 32) → socket\nbars: median, dots: rounds")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    ax = axes[1]
    if "cap" in summary:
        names = [("sink", "rtud → application (udp-node, all threads)", "tab:blue"),
                 ("upcall", "rtud → upcall (udp-node, all threads)", "tab:cyan"), ("c", "minimal C loop (linkloop)", "black")]
        for j, (k, label, color) in enumerate(names):
            vals = [(summary["cap"][sz]["receiver_ns_per_datagram"].get(k) if k != "c"
                     else summary["cap"][sz]["linkloop_cpu_ns_per_frame"]) or 0 for sz in (64, 1472)]
            bars = ax.bar([x + (j - 1) * 0.27 for x in range(2)], vals, 0.25, color=color, label=label)
            for b_, v in zip(bars, vals):
                ax.annotate(f"{v:,.0f}", (b_.get_x() + b_.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
        ticks = []
        for sz in (64, 1472):
            c = summary["cap"][sz]
            ticks.append(f"{sz}-byte payload\nflood {c['offered'] / 1e3:,.0f}k/s, rtud delivered {c['sink'] / 1e3:,.0f}k/s")
        ax.set_xticks([0, 1], ticks)
        ax.set_ylabel("receiver CPU time per datagram or frame (ns)")
        ax.set_title("one socket under an unpaced AF_PACKET flood: receiver CPU\nper datagram vs the minimal C loop (same veth, same flood)")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(f"{docs}/udp-throughput.png", dpi=110)
    written.append("udp-throughput.png")

if "rtt" in summary:
    panels = [("rtt", "closed loop (udptool rtt, next request right after the reply)", (64, 1472))]
    if "sparse" in summary:
        panels.append(("sparse", "sparse (one request per process, 2 ms apart)", (64,)))
    fig, axes = plt.subplots(1, len(panels), figsize=(9 + 4 * (len(panels) - 1), 4.8), squeeze=False,
                             gridspec_kw={"width_ratios": [len(p[2]) for p in panels]})
    colors = {"rtud-v2": "tab:blue", "rtud-v3": "tab:cyan", "kernel": "tab:grey"}
    for ax, (bench, title, sizes) in zip(axes[0], panels):
        labels, i = [], 0
        for s in sizes:
            for impl in rtud_impls(bench) + ["kernel"]:
                row = summary[bench][s][impl]
                color = colors[impl]
                ax.bar(i - 0.2, row["p50_us"] or 0, 0.38, color=color, label="p50" if i == 0 else None)
                ax.bar(i + 0.2, row["p99_us"] or 0, 0.38, color=color, alpha=0.5, hatch="//",
                       label="p99" if i == 0 else None)
                for x in row["rounds"]:
                    ax.plot(i - 0.2, x["p50_us"], "k.", markersize=4)
                    ax.plot(i + 0.2, x["p99_us"], "k.", markersize=4)
                labels.append(f"{'kernel' if impl == 'kernel' else 'rtud ' + ring_of(impl)}\n{s} B")
                i += 1
        ax.axhline(1000, color="tab:red", linestyle=":", linewidth=0.8,
                   label="1 ms: the V3 ring's block retire timeout and the link RTU's period")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylabel("round-trip time (µs)")
        ax.set_title(title, fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="upper center")
    fig.suptitle("udptool rtt → echo (rtud: udp-node echo, TPACKET_V2 / V3 receive ring; kernel: udptool echo); "
                 "median over rounds, dots: rounds", fontsize=9)
    fig.tight_layout()
    fig.savefig(f"{docs}/udp-rtt.png", dpi=110)
    written.append("udp-rtt.png")

if summary.get("overload"):
    fig, ax = plt.subplots(figsize=(8.5, 5))
    ax2 = ax.twinx()
    top = 0
    for consumer, color in (("app", "tab:blue"), ("upcall", "tab:green")):
        ov = summary["overload"].get(consumer)
        if not ov:
            continue
        pts = sorted(ov["points"], key=lambda p: p["offered"] or 0)
        offered = [(p["offered"] or 0) / 1e3 for p in pts]
        delivered = [(p["delivered"] or 0) / 1e3 for p in pts]
        for p in pts:
            for a, d in zip(p["all_offered"], p["all_delivered"]):
                if a and d:
                    ax.plot(a / 1e3, d / 1e3, ".", color=color, alpha=0.4)
        where = "receiving thread" if consumer == "app" else "upcall"
        ax.plot(offered, delivered, "o-", color=color, label=f"delivered, {ov['work_ns']} ns/datagram in the {where} (median)")
        drops = [((p["channel"] or 0) + (p["link"] or 0) + (p["ring"] or 0)) / 1e6 for p in pts]
        ax2.plot(offered, drops, "s--", color=color, alpha=0.6, markersize=4,
                 label=f"dropped per run ({'app ring' if consumer == 'app' else 'channel'} mostly)")
        if ov["peak"]:
            ax.axhline(ov["peak"] / 1e3 * 0.95, color=color, linestyle=":", linewidth=0.8)
        top = max([top] + offered)
    ax.plot([0, top * 1.05], [0, top * 1.05], ":", color="grey", label="delivered = offered")
    ax.set_xlabel("offered load, datagrams/s (thousands; what the paced flood achieved)")
    ax.set_ylabel("delivered datagrams/s (thousands)")
    ax2.set_ylabel("datagrams dropped per run (millions)")
    ax.set_title("overload of one rtud socket: 64-byte flood from 0.5x to >4x the consumer's capacity\n(dotted: 95 % of peak)")
    ax.set_xlim(0, top * 1.05)
    ax.set_ylim(0, max(p["delivered"] or 0 for ov in summary["overload"].values() for p in ov["points"]) / 1e3 * 1.5)
    ax2.set_ylim(bottom=0)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(f"{docs}/udp-overload.png", dpi=110)
    written.append("udp-overload.png")

if summary.get("rtu"):
    flavours = [f for f in ("light", "hungry") if f in summary["rtu"]]
    fig, axes = plt.subplots(1, len(flavours), figsize=(6.5 * len(flavours), 5), squeeze=False)
    colors = {"res-idle": "tab:blue", "nores-idle": "tab:grey", "res-stress": "navy", "nores-stress": "tab:red"}
    for ax, flavour in zip(axes[0], flavours):
        rtu = summary["rtu"][flavour]
        keys = [k for k, _ in CONFIGS if k in rtu]
        ports = list(next(iter(rtu.values()))["streams"].keys())
        w = 0.8 / max(1, len(keys))
        for j, k in enumerate(keys):
            xs = [i + (j - (len(keys) - 1) / 2) * w for i in range(len(ports))]
            ax.bar(xs, [rtu[k]["streams"][p]["share"] * 100 for p in ports], w * 0.95, color=colors[k], label=rtu[k]["label"])
            ax.plot(xs, [rtu[k]["streams"][p]["worst_interval"] * 100 for p in ports], "v", color="black", markersize=5,
                    label="worst 100 ms interval" if j == 0 else None)
        first = next(iter(rtu.values()))["streams"]
        ax.set_xticks(range(len(ports)), [f"port {p}\n{first[p]['reserved_pps']:,.0f}/s reserved" for p in ports])
        ax.axhline(99, color="tab:green", linestyle="--", linewidth=0.8, label="99 %")
        ax.set_ylabel("share of the reserved rate received (%)")
        ax.set_ylim(0, 110)
        ax.set_title(("light" if flavour == "light" else "CPU-hungry") + " best-effort flood consumer\n"
                     + FLAVOURS[flavour].split(": ", 1)[1].format(work=next(iter(rtu.values())).get("flood_work_ns")),
                     fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    fig.suptitle("three reserved streams + a best-effort flood, reservations on/off, with and without stress-ng --cpu 8")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(f"{docs}/udp-reservations.png", dpi=110)
    written.append("udp-reservations.png")

print(f"plot_udp: wrote {out}/summary.md, {out}/summary.json" + (", " + ", ".join(f"{docs}/{w}" for w in written) if written else ""))
