#!/usr/bin/env python3
"""The allocator comparison: workload benchmarks and real programs under glibc, lfh, mimalloc,
jemalloc and tcmalloc (python3 standard library only).

Runs every benchmark under every allocator, each in its own process (LD_PRELOAD), in interleaved
order — benchmark 1 under A B C D E, benchmark 2 under A B C D E, ... — for N rounds, then writes
bench/results/REPORT.md (median time and peak RSS per benchmark per allocator, normalised to lfh,
geometric means, the targets, the machine) and the charts bench/results/time.svg and rss.svg.
It builds nothing: bench/run.sh installs, builds and calls it (or `cmake --build BUILD --target
bench-report`).

  bench/run_bench.py [--build-dir DIR] [--rounds N] [--quick] [--only NAMES] [--threads 1,2,4]
                     [--allocators glibc,lfh,...] [--no-real] [--no-workloads] [--report-only]

--only takes comma-separated names or prefixes: larson, larson@2, redis, python ...
--quick runs every workload with --quick and small real programs, 1 round by default, and writes
REPORT-quick.md / *-quick.svg instead (a quick pass says nothing about speed).
Raw results go to bench/results/raw/bench.json (rewritten after every run; --report-only
regenerates the report from it).
"""

import argparse
import json
import math
import os
import re
import shlex
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "realprogs"))

import run_compare  # noqa: E402  (allocator lookup, machine description)
import realprogs  # noqa: E402

# (name, binary, what) — the workload benchmarks, in report order.
WORKLOADS = [
    ("larson", "wl_larson", "server-like random lifetimes across threads: each lane's 4000 blocks (8–1000 B) are "
     "replaced at random by a succession of short-lived threads, so blocks are freed by threads that did not "
     "allocate them (Larson)"),
    ("xmalloc", "wl_xmalloc", "producer/consumer: N producer threads allocate batches of 16–512 B blocks, N consumer "
     "threads free them (xmalloc-test); `threads` = pairs"),
    ("cache-thrash", "wl_cache_thrash", "active false sharing: threads allocate, write, free 8-byte objects; slow if "
     "the allocator puts two threads' objects in one cache line (Hoard cache-thrash)"),
    ("cache-scratch", "wl_cache_scratch", "passive false sharing: threads free objects that the main thread allocated "
     "side by side, then allocate and write their own (Hoard cache-scratch)"),
    ("bignum", "wl_bignum", "big-number arithmetic: continued-fraction convergents of sqrt(d), Pell's identity checked "
     "(cfrac-like): many small short-lived vectors"),
    ("lisp", "wl_lisp", "Lisp interpreter: cons cells, boxed numbers, closures, strings; mark-and-sweep collector "
     "freeing objects one by one"),
    ("large-realloc", "wl_large_realloc", "large blocks 64 KB–4 MB grown with realloc (and shrunk, freed), every "
     "page touched"),
    ("thread-bursts", "wl_thread_bursts", "64 short-lived threads (T at a time) each allocating ~15 MB in 20 000 "
     "blocks and freeing it, 3 times: thread-local peaks"),
    ("map-churn", "wl_map_churn", "std::map (red-black tree) + std::unordered_map churn, keys 8–60 chars, values "
     "8 B–2 KB"),
    ("fragmentation", "wl_fragmentation", "64 MB of small blocks, 90 % freed at random, then 48 MB medium (90 % "
     "freed), 48 MB large, 32 MB small, all twice: peak RSS shows whether sparse free space is reused"),
]

# Targets (issue: "Targets, measured by the report").
TIME_TARGETS = [("mimalloc", 1.00), ("jemalloc", 0.90), ("glibc", 0.70)]
TIME_WORST_VS_BEST = 1.25
RSS_TARGETS = [("mimalloc", 1.00)]
RSS_WORST_VS_BEST = 1.5
LARSON_SCALING = 1.8


def libc_path():
    return run_compare.find_lib(["libc.so.6"])


def raw_path(quick):
    return os.path.join(HERE, "results", "raw", "bench-quick.json" if quick else "bench.json")


# ---- running -------------------------------------------------------------------------------------

class Bench:
    """One row of the report: a workload at a thread count, or a real program."""

    def __init__(self, bid, kind, what, run, command):
        self.id, self.kind, self.what, self._run, self.command = bid, kind, what, run, command

    def run(self, alloc, lib):
        return self._run(alloc, lib)


def make_workload(build, name, binary, what, threads, quick):
    path = os.path.join(build, "bench", "workloads", binary)
    args = [path, "--threads", str(threads)] + (["--quick"] if quick else [])

    def run(alloc, lib):
        rc, so, se, wall, rss = realprogs.run_measured(args, 300, lib)
        res = realprogs.parse_result(so)
        if rc != 0 or not res or res.get("check") != "ok":
            why = "exit %s" % describe(rc)
            tail = realprogs._tail(se or so)
            return {"ok": False, "error": why + (": " + tail if tail else ""), "seconds": None, "peak_rss_kb": None,
                    "extra": {}}
        mf = res.get("malloc_from", "?")
        if lib and os.path.realpath(mf) != os.path.realpath(lib):
            return {"ok": False, "error": "malloc served by %s, not %s (preload failed?)" % (mf, lib),
                    "seconds": None, "peak_rss_kb": None, "extra": {}}
        extra = {k: res[k] for k in ("ops_per_sec", "blocks_per_sec") if k in res}
        return {"ok": True, "error": None, "seconds": float(res["seconds"]), "peak_rss_kb": int(res["peak_rss_kb"]),
                "extra": extra}

    return Bench("%s@%d" % (name, threads), "workload", what, run, args)


def make_real(prog):
    def run(alloc, lib):
        if prog.name == "redis" and alloc == "glibc":
            # Debian's redis-server is linked with libjemalloc: preloading libc puts glibc's malloc
            # first in the lookup order, so "glibc" really is glibc here.
            lib = libc_path()
        try:
            return prog.run(lib, alloc)
        except Exception as e:  # a driver problem must not lose the other results
            return {"ok": False, "error": "driver error: %r" % e, "seconds": None, "peak_rss_kb": None, "extra": {}}

    return Bench(prog.name, "real", prog.what, run, None)


def describe(rc):
    if isinstance(rc, int) and rc < 0:
        return run_compare.describe_rc(rc)
    return str(rc)


def repro_command(bench, lib):
    """The command line that repeats one workload run by hand."""
    pre = ("LD_PRELOAD=%s " % lib) if lib else ""
    return pre + " ".join(shlex.quote(a) for a in bench.command)


def cpu_scaling(build, quick):
    exe = os.path.join(build, "bench", "workloads", "wl_cpu_scaling")
    if not os.path.exists(exe):
        return None
    rc, so, _, _, _ = realprogs.run_measured([exe] + (["--quick"] if quick else []), 60)
    res = realprogs.parse_result(so)
    return float(res["speedup"]) if rc == 0 and res else None


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def select(benches, only):
    if not only:
        return benches
    keys = [k.strip() for k in only.split(",") if k.strip()]
    out = []
    for b in benches:
        base = b.id.split("@")[0]
        if any(b.id == k or base == k or b.id.startswith(k) for k in keys):
            out.append(b)
    return out


# ---- statistics & report ---------------------------------------------------------------------------

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def fmt_s(s):
    if s is None:
        return "—"
    if s >= 10:
        return "%.1f s" % s
    if s >= 1:
        return "%.2f s" % s
    return "%.3f s" % s


def fmt_kb(kb):
    if kb is None:
        return "—"
    if kb >= 1024 * 1024:
        return "%.2f GB" % (kb / 1048576.0)
    if kb >= 10 * 1024:
        return "%.0f MB" % (kb / 1024.0)
    return "%.1f MB" % (kb / 1024.0)


def fmt_r(r):
    if r is None:
        return "—"
    return "%.3f" % r if r < 0.1 else "%.2f" % r


def summarise(data):
    """-> stats[bench][alloc] = {time, rss, n, fails, spread, extra} from the raw runs."""
    stats = {}
    for b in data["order"]:
        stats[b] = {}
        for a in data["allocators"]:
            runs = [r for r in data["runs"] if r["bench"] == b and r["alloc"] == a]
            ok = [r for r in runs if r["ok"]]
            times = [r["seconds"] for r in ok]
            rsss = [r["peak_rss_kb"] for r in ok if r["peak_rss_kb"] is not None]
            m = med(times)
            spread = (max(times) - min(times)) / m * 100 if len(times) >= 2 and m else None
            extra = {}
            for k in ("ops_per_sec", "blocks_per_sec"):
                v = [float(r["extra"][k]) for r in ok if k in r.get("extra", {})]
                if v:
                    extra[k] = med(v)
            stats[b][a] = {"time": m, "rss": med(rsss), "n": len(ok), "fails": [r for r in runs if not r["ok"]],
                           "spread": spread, "extra": extra}
    return stats


def svg_chart(path, title, subtitle, rows, allocs, key, colors):
    """Diverging horizontal bars on a log2 scale: for each benchmark row, one bar per allocator
    other than lfh, from 1.0 (lfh) to allocator/lfh. rows: [(label, {alloc: ratio})]."""
    others = [a for a in allocs if a != "lfh"]
    lo, hi = 0.125, 8.0
    left, width, right = 190, 560, 40
    bar_h, gap, top = 5, 8, 70
    group_h = bar_h * len(others) + gap
    height = top + sum(group_h if r[0] is not None else gap for r in rows) + 60
    total_w = left + width + right

    def x(r):
        r = min(max(r, lo), hi)
        return left + (math.log2(r) - math.log2(lo)) / (math.log2(hi) - math.log2(lo)) * width

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="11">' % (total_w, height, total_w, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>' % (10, esc(title)),
           '<text x="%d" y="38" fill="#444">%s</text>' % (10, esc(subtitle))]
    # legend
    lx = 10
    for a in others:
        out.append('<rect x="%d" y="48" width="10" height="10" fill="%s"/>' % (lx, colors[a]))
        out.append('<text x="%d" y="57">%s</text>' % (lx + 14, esc(a)))
        lx += 24 + 7 * len(a)
    # grid
    for t in (0.125, 0.25, 0.5, 0.8, 1.0, 1.25, 2.0, 4.0, 8.0):
        gx = x(t)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%s"/>' % (
            gx, top - 4, gx, height - 40, "#000" if t == 1.0 else "#ddd", "1.2" if t == 1.0 else "1"))
        if t in (0.8, 1.25):  # grid only: the labels would run into 1's
            continue
        out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#444">%s</text>' % (
            gx, height - 26, ("%g" % t) + ("" if t != 1.0 else " = lfh")))
    out.append('<text x="%d" y="%d" fill="#444">← allocator better than lfh</text>' % (left, height - 10))
    out.append('<text x="%d" y="%d" text-anchor="end" fill="#444">allocator worse than lfh →</text>' % (
        left + width, height - 10))
    y = top
    for label, ratios in rows:
        if label is None:  # a separator
            out.append('<line x1="10" y1="%.1f" x2="%d" y2="%.1f" stroke="#999" stroke-dasharray="4,3"/>' % (
                y + gap / 2.0, left + width, y + gap / 2.0))
            y += gap
            continue
        bold = label.startswith("geometric mean")
        out.append('<text x="%d" y="%.1f" text-anchor="end"%s>%s</text>' % (
            left - 6, y + group_h / 2.0 + 1, ' font-weight="bold"' if bold else "", esc(label)))
        for i, a in enumerate(others):
            r = ratios.get(a)
            by = y + i * bar_h
            if r is None:
                continue
            x0, x1 = x(1.0), x(r)
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s %s: %.3f</title></rect>' % (
                min(x0, x1), by, max(abs(x1 - x0), 0.8), bar_h - 1, colors[a], esc(a), esc(label), r))
            if r < lo or r > hi:  # off the scale: say how far
                out.append('<text x="%.1f" y="%.1f" font-size="8" text-anchor="%s" fill="%s">%s</text>' % (
                    x1 + (-3 if r > hi else 3), by + bar_h, "end" if r > hi else "start", "#fff", fmt_r(r)))
        y += group_h
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def micro_section(micro_md):
    """The 'Main benchmarks' table of micro.md (and its date), or None."""
    try:
        with open(micro_md) as f:
            text = f.read()
    except OSError:
        return None
    date = re.search(r"^\| date \| (.*?) \|", text, re.M)
    commit = re.search(r"^\| lfh commit \| (.*?) \|", text, re.M)
    m = re.search(r"^## Main benchmarks\n\n(.*?)(?:\n\n|\Z)", text, re.M | re.S)
    if not m:
        return None
    return (date.group(1) if date else "?", commit.group(1) if commit else "?", m.group(1))


def write_report(data, out_md, quick):
    allocs = data["allocators"]
    others = [a for a in allocs if a != "lfh"]
    stats = summarise(data)
    wl_rows = [b for b in data["order"] if data["kinds"][b] == "workload"]
    real_rows = [b for b in data["order"] if data["kinds"][b] == "real"]
    suffix = "-quick" if quick else ""
    res_dir = os.path.dirname(os.path.abspath(out_md))
    colors = {"glibc": "#7f7f7f", "lfh": "#000000", "mimalloc": "#1f77b4", "jemalloc": "#d62728",
              "tcmalloc": "#2ca02c"}

    def val(b, a, k):
        s = stats[b].get(a)
        return s[k] if s else None

    def ratio(b, a, k):  # allocator / lfh
        v, l = val(b, a, k), val(b, "lfh", k)
        return v / l if v is not None and l else None

    def best(b, k):
        vs = [val(b, a, k) for a in allocs if val(b, a, k) is not None]
        return min(vs) if vs else None

    info = data["machine"]
    L = []
    L.append("# lfh vs other allocators: workloads and real programs" + (" (QUICK PASS — not a measurement)" if quick else ""))
    L.append("")
    L.append("Generated by `bench/run_bench.py` (`bench/run.sh`) — do not edit by hand. What each benchmark does: "
             "`bench/README.md`.")
    L.append("")
    L.append("| | |")
    L.append("| --- | --- |")
    L.append("| date | %s |" % info["date"])
    L.append("| machine | %s, %s CPUs available (nproc), Linux %s |" % (info["cpu"], info["nproc"], info["kernel"]))
    L.append("| glibc | %s |" % info["glibc"])
    L.append("| lfh commit | %s |" % info["lfh"])
    for n, p, real in info["libs"]:
        if p:
            L.append("| %s | `%s`%s |" % (n, p, (" → `%s`" % os.path.basename(real)) if real and real != p else ""))
    L.append("| method | %d interleaved round(s): each benchmark under every allocator in turn (%s), one process "
             "each (LD_PRELOAD), then the next benchmark; %.0f s in all |" % (
                 data["rounds"], " ".join(allocs), data["elapsed"]))
    L.append("| load average | %s at the start, %s at the end (1, 5, 15 min) |" % (data["load_start"], data["load_end"]))
    cs = [c for c in data.get("cpu_scaling", []) if c]
    if cs:
        L.append("| machine's 2-thread speed-up | %.2f× (median of %d; pure arithmetic on 1 then 2 threads, "
                 "`wl_cpu_scaling`: what the machine gave us, the ceiling for any allocator's 2-thread scaling) |" % (
                     med(cs), len(cs)))
    L.append("")
    L.append("**How to read.** Time is the wall clock of each program's measured phase; peak RSS is the "
             "process's resident-set high-water mark (workloads: their own VmHWM; real programs: `ru_maxrss` of "
             "the program and the children it waited for, taken by the small launcher `wl_measure` so that the "
             "driver's own size does not leak in). Each cell is the median over the rounds. "
             "The number in parentheses is **allocator / lfh**: above 1.00 lfh is faster (or smaller), below 1.00 "
             "lfh is slower (or bigger). The targets below are stated the other way round, lfh / allocator, "
             "as in the issue. `name@N` = the workload with N threads (for xmalloc, N producer + N consumer "
             "threads).")
    L.append("")
    for n in data["notes"]:
        L.append("- note: " + n)
    if data["notes"]:
        L.append("")

    # ---- summary
    L.append("## Summary")
    L.append("")
    L.append("Geometric means of allocator / lfh over the rows of each table (above 1.00: lfh better).")
    L.append("")
    L.append("| | " + " | ".join(others) + " |")
    L.append("| --- | " + " | ".join("---:" for _ in others) + " |")

    def gm(rows, a, k):
        return geomean([ratio(b, a, k) for b in rows if ratio(b, a, k) is not None])

    if wl_rows:
        L.append("| workloads: time | " + " | ".join(fmt_r(gm(wl_rows, a, "time")) for a in others) + " |")
        L.append("| workloads: peak RSS | " + " | ".join(fmt_r(gm(wl_rows, a, "rss")) for a in others) + " |")
    if real_rows:
        L.append("| real programs: time | " + " | ".join(fmt_r(gm(real_rows, a, "time")) for a in others) + " |")
        L.append("| real programs: peak RSS | " + " | ".join(fmt_r(gm(real_rows, a, "rss")) for a in others) + " |")
    L.append("")
    if wl_rows or real_rows:
        L.append("![time relative to lfh](time%s.svg)" % suffix)
        L.append("")
        L.append("![peak RSS relative to lfh](rss%s.svg)" % suffix)
        L.append("")

    # ---- targets
    if wl_rows:
        L.append("## Targets")
        L.append("")
        L.append("| target | measured | met? |")
        L.append("| --- | --- | --- |")

        def yes(ok):
            return "**yes**" if ok else "**NO**"

        for a, limit in TIME_TARGETS:
            if a not in allocs:
                continue
            g = gm(wl_rows, a, "time")
            lg = 1 / g if g else None
            L.append("| workloads, geometric mean of time: lfh ≤ %.2f × %s | lfh / %s = %s | %s |" % (
                limit, a, a, fmt_r(lg), yes(lg is not None and lg <= limit)))
        worst = []
        for b in wl_rows:
            bt, lt = best(b, "time"), val(b, "lfh", "time")
            if lt is None:
                worst.append((b, None))
            elif bt and lt / bt > TIME_WORST_VS_BEST:
                worst.append((b, lt / bt))
        worst_all = max(((b, val(b, "lfh", "time") / best(b, "time")) for b in wl_rows
                         if val(b, "lfh", "time") and best(b, "time")), key=lambda x: x[1], default=(None, None))
        L.append("| no workload slower than %.2f × the best allocator on it | worst: %s | %s |" % (
            TIME_WORST_VS_BEST, "%s at %s × best" % (worst_all[0], fmt_r(worst_all[1])) if worst_all[0] else "—",
            yes(not worst)))
        for a, limit in RSS_TARGETS:
            if a not in allocs:
                continue
            g = gm(wl_rows, a, "rss")
            lg = 1 / g if g else None
            L.append("| workloads, geometric mean of peak RSS: lfh ≤ %.2f × %s | lfh / %s = %s | %s |" % (
                limit, a, a, fmt_r(lg), yes(lg is not None and lg <= limit)))
        worst_rss = []
        for b in wl_rows:
            br, lr = best(b, "rss"), val(b, "lfh", "rss")
            if lr is None:
                worst_rss.append((b, None))
            elif br and lr / br > RSS_WORST_VS_BEST:
                worst_rss.append((b, lr / br))
        worst_rss_all = max(((b, val(b, "lfh", "rss") / best(b, "rss")) for b in wl_rows
                             if val(b, "lfh", "rss") and best(b, "rss")), key=lambda x: x[1], default=(None, None))
        L.append("| no workload's peak RSS above %.1f × the best allocator's | worst: %s | %s |" % (
            RSS_WORST_VS_BEST, "%s at %s × best" % (worst_rss_all[0], fmt_r(worst_rss_all[1])) if worst_rss_all[0] else "—",
            yes(not worst_rss)))
        scal = {}
        for a in allocs:
            t1, t2 = val("larson@1", a, "time") if "larson@1" in stats else None, \
                val("larson@2", a, "time") if "larson@2" in stats else None
            scal[a] = t1 / t2 if t1 and t2 else None  # same total work: throughput ratio = time ratio
        if "lfh" in scal:
            L.append("| Larson 2-thread throughput ≥ %.1f × 1-thread (lfh) | %s× (machine: %s×) | %s |" % (
                LARSON_SCALING, fmt_r(scal["lfh"]), fmt_r(med(cs)) if cs else "?",
                yes(scal["lfh"] is not None and scal["lfh"] >= LARSON_SCALING)))
        L.append("")
        if worst:
            L.append("Workloads where lfh is more than %.2f × the best time: %s." % (TIME_WORST_VS_BEST, ", ".join(
                "%s (%s)" % (b, "failed" if r is None else fmt_r(r) + "×") for b, r in worst)))
            L.append("")
        if worst_rss:
            L.append("Workloads where lfh's peak RSS is more than %.1f × the best: %s." % (RSS_WORST_VS_BEST, ", ".join(
                "%s (%s)" % (b, "failed" if r is None else fmt_r(r) + "×") for b, r in worst_rss)))
            L.append("")
        if any(scal.values()):
            L.append("Larson 2-thread / 1-thread throughput, every allocator: " + ", ".join(
                "%s %s×" % (a, fmt_r(scal[a])) for a in allocs) + ". Same total work at 1 and 2 threads, so the "
                "throughput ratio is time(1) / time(2); it cannot exceed the machine's own 2-thread speed-up above.")
            L.append("")

    # ---- tables
    def table(title, rows, k, fmt):
        L.append("## " + title)
        L.append("")
        L.append("| benchmark | " + " | ".join(allocs) + " | lfh spread |")
        L.append("| --- | " + " | ".join("---:" for _ in allocs) + " | ---: |")
        for b in rows:
            cells = []
            for a in allocs:
                v = val(b, a, k)
                if v is None:
                    cells.append("FAILED" if stats[b].get(a, {}).get("fails") else "—")
                elif a == "lfh":
                    cells.append("**%s**" % fmt(v))
                else:
                    cells.append("%s (%s)" % (fmt(v), fmt_r(ratio(b, a, k))))
            sp = stats[b].get("lfh", {}).get("spread") if k == "time" else None
            L.append("| %s | %s | %s |" % (b, " | ".join(cells), "%.0f%%" % sp if sp is not None else ""))
        L.append("| **geometric mean** | " + " | ".join(
            "1.00" if a == "lfh" else "**%s**" % fmt_r(gm(rows, a, k)) for a in allocs) + " | |")
        L.append("")

    if wl_rows:
        table("Workloads: time", wl_rows, "time", fmt_s)
        L.append("lfh spread: (max − min) / median of lfh's time over the rounds, a noise gauge for the row.")
        L.append("")
        table("Workloads: peak RSS", wl_rows, "rss", fmt_kb)
        thr = [b for b in wl_rows if b.startswith("larson@")]
        if thr:
            L.append("Larson throughput (replacements per second, all threads together, median): " + "; ".join(
                "%s: %s" % (b, ", ".join("%s %.3g M/s" % (a, val_extra(stats, b, a, "ops_per_sec") / 1e6)
                                         for a in allocs if val_extra(stats, b, a, "ops_per_sec"))) for b in thr) + ".")
            L.append("")
    if real_rows:
        table("Real programs: time", real_rows, "time", fmt_s)
        table("Real programs: peak RSS", real_rows, "rss", fmt_kb)

    # ---- failures
    fails = [r for r in data["runs"] if not r["ok"]]
    if fails:
        L.append("## Failures")
        L.append("")
        L.append("Runs that crashed, failed their own check or timed out (not counted in the medians). "
                 "Repeat one with the command shown.")
        L.append("")
        for r in fails:
            L.append("- **%s under %s**, round %d: %s  \n  `%s`" % (r["bench"], r["alloc"], r["round"],
                                                                  r["error"], r.get("repro", "")))
        L.append("")

    # ---- what was run
    L.append("## What was run")
    L.append("")
    L.append("| benchmark | what |")
    L.append("| --- | --- |")
    seen = set()
    for b in data["order"]:
        base = b.split("@")[0]
        if base in seen:
            continue
        seen.add(base)
        L.append("| %s | %s |" % (base, data["what"].get(b, "")))
    L.append("")
    L.append("Workloads are in `bench/workloads/` (each checks its own result and exits non-zero on a mismatch); "
             "real programs in `bench/realprogs/`. Python runs with `PYTHONMALLOC=malloc`, so its objects go "
             "through the allocator under test instead of pymalloc. Debian's redis-server is linked with "
             "libjemalloc: its `glibc` column preloads libc.so.6 so that glibc's malloc is the one bound, and every "
             "other column preloads that allocator over the linked jemalloc (redis still calls jemalloc's "
             "`mallctl` for statistics, which does not touch the blocks).")
    L.append("")

    # ---- micro
    micro_name = "micro-quick.md" if quick else "micro.md"
    micro = micro_section(os.path.join(HERE, "results", micro_name))
    L.append("## Micro-benchmarks")
    L.append("")
    if micro:
        L.append("From [`%s`](%s) (`bench/run_compare.py`, %s, lfh %s). Ratios there are "
                 "allocator time / lfh time per operation, like the parentheses above." % (
                     micro_name, micro_name, micro[0], micro[1]))
        L.append("")
        L.append(micro[2])
    else:
        L.append("Not run: see `bench/run_compare.py` (results in `micro.md`).")
    L.append("")

    os.makedirs(res_dir, exist_ok=True)
    with open(out_md, "w") as f:
        f.write("\n".join(L))

    # ---- charts
    for k, name, what in (("time", "time", "Time"), ("rss", "rss", "Peak RSS")):
        rows = []
        for b in wl_rows:
            rows.append((b, {a: ratio(b, a, k) for a in others}))
        if wl_rows:
            rows.append(("geometric mean (workloads)", {a: gm(wl_rows, a, k) for a in others}))
        if wl_rows and real_rows:
            rows.append((None, {}))
        for b in real_rows:
            rows.append((b, {a: ratio(b, a, k) for a in others}))
        if real_rows:
            rows.append(("geometric mean (programs)", {a: gm(real_rows, a, k) for a in others}))
        if rows:
            svg_chart(os.path.join(res_dir, "%s%s.svg" % (name, suffix)),
                      "%s relative to lfh (allocator / lfh, log scale)" % what,
                      "%s · %s, %s CPUs · %s · median of %d round(s)" % (
                          info["date"], info["cpu"], info["nproc"], "lfh " + info["lfh"], data["rounds"]),
                      rows, allocs, k, colors)


def val_extra(stats, b, a, k):
    s = stats.get(b, {}).get(a)
    return s["extra"].get(k) if s else None


# ---- main ------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=None, help="CMake build directory (default: build/)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 3; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a fast pass (writes REPORT-quick.md)")
    ap.add_argument("--only", help="comma-separated benchmark names or prefixes (larson, larson@2, redis, ...)")
    ap.add_argument("--threads", default="1,2,4", help="thread counts for the workloads (default 1,2,4)")
    ap.add_argument("--allocators", help="comma-separated subset of glibc,lfh,mimalloc,jemalloc,tcmalloc")
    ap.add_argument("--no-real", action="store_true", help="skip the real programs")
    ap.add_argument("--no-workloads", action="store_true", help="skip the workload benchmarks")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the last raw results")
    ap.add_argument("--out", help="report path (default bench/results/REPORT.md, REPORT-quick.md with --quick)")
    ap.add_argument("--label", help="what lfh build this is, for the report (default: git commit of this checkout)")
    opt = ap.parse_args()

    out_md = opt.out or os.path.join(HERE, "results", "REPORT-quick.md" if opt.quick else "REPORT.md")
    raw = raw_path(opt.quick)
    if opt.report_only:
        with open(raw) as f:
            data = json.load(f)
        write_report(data, out_md, data.get("quick", False))
        print("wrote %s" % out_md)
        return 0

    build = os.path.abspath(opt.build_dir or os.path.join(ROOT, "build"))
    if not os.path.isfile(os.path.join(build, "liblfh.so")):
        sys.exit("run_bench: %s/liblfh.so not found: build first (bench/run.sh does), e.g.\n"
                 "  cmake -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2 --target bench-workloads" % build)
    wanted = set(opt.allocators.split(",")) if opt.allocators else None
    allocs, notes = run_compare.resolve_allocators(build, wanted)
    names = [n for n, _ in allocs]
    libs = dict(allocs)
    threads = [int(t) for t in opt.threads.split(",") if t.strip()]
    rounds = opt.rounds or (1 if opt.quick else 3)

    benches = []
    if not opt.no_workloads:
        for name, binary, what in WORKLOADS:
            if not os.path.isfile(os.path.join(build, "bench", "workloads", binary)):
                notes.append("workload %s: %s not built, skipped" % (name, binary))
                continue
            for t in threads:
                benches.append(make_workload(build, name, binary, what, t, opt.quick))
    workdir = tempfile.mkdtemp(prefix="lfh-bench-")
    measure = os.path.join(build, "bench", "workloads", "wl_measure")
    realprogs.MEASURE = measure if os.access(measure, os.X_OK) else None
    if not opt.no_real and not realprogs.MEASURE:
        notes.append("real programs skipped: %s not built (it measures their peak RSS)" % measure)
        opt.no_real = True
    if not opt.no_real:
        for prog in realprogs.PROGRAMS:
            if opt.only and not select([Bench(prog.name, "real", "", None, None)], opt.only):
                continue
            ok, why = prog.available()
            if not ok:
                notes.append("real program %s skipped: %s" % (prog.name, why))
                continue
            prog.prepare(workdir, opt.quick)
            benches.append(make_real(prog))
    benches = select(benches, opt.only)
    if not benches:
        sys.exit("run_bench: nothing to run")

    data = {"allocators": names, "order": [b.id for b in benches], "kinds": {b.id: b.kind for b in benches},
            "what": {b.id: b.what for b in benches}, "runs": [], "rounds": rounds, "quick": opt.quick,
            "notes": notes, "load_start": loadavg(), "cpu_scaling": []}
    info = run_compare.machine_info(build, allocs)
    if opt.label:
        info["lfh"] = opt.label
    data["machine"] = info
    os.makedirs(os.path.dirname(raw), exist_ok=True)
    print("run_bench: %d benchmarks × %d allocators × %d rounds (%s)" % (len(benches), len(names), rounds,
                                                                         " ".join(names)), flush=True)
    for n in notes:
        print("note: " + n)
    t_start = time.time()
    failed = 0
    for r in range(rounds):
        data["cpu_scaling"].append(cpu_scaling(build, opt.quick))
        for b in benches:
            line = []
            for a in names:
                res = b.run(a, libs[a])
                rec = {"bench": b.id, "alloc": a, "round": r + 1, "ok": res["ok"], "error": res.get("error"),
                       "seconds": res.get("seconds"), "peak_rss_kb": res.get("peak_rss_kb"),
                       "extra": res.get("extra", {})}
                if not res["ok"]:
                    failed += 1
                    if b.kind == "workload":
                        rec["repro"] = repro_command(b, libs[a])
                    else:
                        rec["repro"] = "%sbench/run_bench.py --build-dir %s --only %s --allocators %s --rounds 1" % (
                            "PYTHONMALLOC=malloc " if b.id == "python" else "", build, b.id, a)
                        if res.get("cmd"):
                            rec["repro"] += "   # runs: %s%s" % (("LD_PRELOAD=%s " % libs[a]) if libs[a] else "",
                                                                 " ".join(shlex.quote(c) for c in res["cmd"]))
                data["runs"].append(rec)
                line.append("%s %s" % (a, ("%.3fs/%s" % (res["seconds"], fmt_kb(res["peak_rss_kb"])))
                                       if res["ok"] else "FAILED"))
            print("[round %d/%d] %-18s %s" % (r + 1, rounds, b.id, "  ".join(line)), flush=True)
            for rec in data["runs"][-len(names):]:
                if not rec["ok"]:
                    print("    %s FAILED: %s\n      repro: %s" % (rec["alloc"], rec["error"], rec.get("repro")), flush=True)
            data["elapsed"] = time.time() - t_start
            data["load_end"] = loadavg()
            with open(raw, "w") as f:
                json.dump(data, f, indent=1)
    data["elapsed"] = time.time() - t_start
    data["load_end"] = loadavg()
    with open(raw, "w") as f:
        json.dump(data, f, indent=1)
    write_report(data, out_md, opt.quick)
    print("wrote %s (%.0f s)%s" % (out_md, data["elapsed"], "; %d run(s) FAILED" % failed if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
