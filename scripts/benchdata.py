"""What the benchmark scripts' Python shares: when and where a run was made,
reading the results the benchmarks and their programs write, and matplotlib
drawing to files. The plot_*.py scripts beside it import it directly; the
scripts' inline Python runs with PYTHONPATH=scripts."""
import json
import os
import platform
import subprocess
import time


def run_meta(**extra):
    """When and where a run was made (UTC minute, short commit, CPU model and
    count, kernel), with `extra` added: a plot's subtitle and BENCHMARKS.md's
    "measured on"."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return {"utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit, "cpu": cpu,
            "cpus": os.cpu_count(), "kernel": platform.release(), **extra}


def json_lines(path):
    """A results file of one JSON object a line: every object, and the one
    whose "bench" is "meta" (or {})."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    return rows, next((r for r in rows if r.get("bench") == "meta"), {})


def last_json(path):
    """The last line of a program's output that is a JSON object: its report
    (rtu-udp, udp-node and udptool print a "ready" object first); {} when it
    printed none."""
    rows = [line for line in open(path).read().splitlines() if line.strip().startswith("{")]
    return json.loads(rows[-1]) if rows else {}


def pyplot():
    """matplotlib.pyplot, drawing to files (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
