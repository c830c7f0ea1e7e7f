#!/usr/bin/env python3
"""Compare lfh with other allocators on lfh_bench_micro (python3 standard library only).

Runs the already-built benchmark binary once per allocator, each in its own process with
LD_PRELOAD, in interleaved rounds (glibc lfh mimalloc jemalloc tcmalloc, then again, N rounds),
and writes a Markdown report (default bench/results/micro.md) with the median time per operation
for each allocator and the ratio allocator/lfh (> 1: lfh is faster).

  bench/run_compare.py [BUILD_DIR] [--rounds N] [--quick] [--min-time S] [--filter REGEX]
  bench/run_compare.py [BUILD_DIR] --smoke      # every benchmark once, briefly, every allocator

BUILD_DIR defaults to build/ or build-bench/ (the first holding bench/lfh_bench_micro). It builds
nothing. Allocator libraries can be overridden with LFH_BENCH_<NAME>=/path/lib.so (NAME in
upper case, e.g. LFH_BENCH_MIMALLOC, or LFH_BENCH_LFH for another lfh build; then say which with
--label); a missing one is skipped with a note in the report.
"""

import argparse
import datetime
import glob
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name -> candidate library file names (searched in the usual library folders)
ALLOCATORS = [
    ("glibc", None),
    ("lfh", None),  # found in the build directory
    ("mimalloc", ["libmimalloc.so.2", "libmimalloc.so"]),
    ("jemalloc", ["libjemalloc.so.2", "libjemalloc.so"]),
    ("tcmalloc", ["libtcmalloc_minimal.so.4", "libtcmalloc_minimal.so", "libtcmalloc.so.4"]),
]
LIB_DIRS = ["/usr/lib/*-linux-gnu", "/lib/*-linux-gnu", "/usr/lib64", "/usr/local/lib", "/usr/lib"]

# What one "op" is, per benchmark family (the time columns are per op).
OPS = {
    "BM_Pair": "malloc+free",
    "BM_PairRandom": "malloc+free",
    "BM_WorkingSet": "free+malloc",
    "BM_BatchLIFO": "malloc+free",
    "BM_BatchFIFO": "malloc+free",
    "BM_BatchFIFORandom": "malloc+free",
    "BM_Calloc": "calloc+free",
    "BM_ReallocGrow": "realloc",
    "BM_PosixMemalign": "memalign+free",
    "BM_NewDelete": "new+delete",
    "BM_CrossThreadFree": "block",
    "BM_LargeRandom": "free+malloc",
    "BM_ReallocGrowLarge": "realloc",
}

# The benchmarks summarised first in the report ("main" table), in this order.
MAIN = [
    "BM_Pair/64",
    "BM_PairRandom",
    "BM_PairRandom/threads:2",
    "BM_WorkingSet",
    "BM_BatchLIFO/64",
    "BM_BatchFIFO/64",
    "BM_CrossThreadFree/64/process_time",
    "BM_CrossThreadFree/0/process_time",
    "BM_LargeRandom/real_time",
    "BM_ReallocGrowLarge/real_time",
]


def find_build_dir(arg):
    cands = [arg] if arg else [os.path.join(ROOT, "build"), os.path.join(ROOT, "build-bench")]
    for d in cands:
        if os.path.isfile(os.path.join(d, "bench", "lfh_bench_micro")):
            return os.path.abspath(d)
    sys.exit("run_compare: no bench/lfh_bench_micro under %s; build first, e.g.\n"
             "  cmake -B build-bench -DLFH_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release && "
             "cmake --build build-bench -j2" % " or ".join(cands))


def find_lib(names):
    for d in LIB_DIRS:
        for dd in sorted(glob.glob(d)):
            for n in names:
                p = os.path.join(dd, n)
                if os.path.isfile(p):
                    return p
    return None


def resolve_allocators(build, wanted):
    """-> (list of (name, preload path or None)), list of notes about skipped ones."""
    found, notes = [], []
    for name, libs in ALLOCATORS:
        if wanted and name not in wanted:
            continue
        env_path = os.environ.get("LFH_BENCH_" + name.upper())
        if name == "glibc":
            found.append((name, None))
            continue
        if env_path:
            path = env_path
        elif name == "lfh":
            path = os.path.join(build, "liblfh.so")
        else:
            path = find_lib(libs)
        if path and os.path.isfile(path):
            found.append((name, os.path.abspath(path)))
        else:
            notes.append("%s: not found (%s), skipped" % (name, path or "/".join(libs)))
    return found, notes


def run_one(binary, preload, args, timeout):
    """Run the benchmark binary once. -> (returncode, parsed json or None, stderr text)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    try:
        p = subprocess.run([binary, "--benchmark_format=json"] + args, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return ("timeout", None, "timed out after %ds" % timeout)
    data = None
    if p.returncode == 0:
        try:
            data = json.loads(p.stdout.decode("utf-8", "replace"))
        except ValueError as e:
            return ("bad-json", None, str(e))
    return (p.returncode, data, p.stderr.decode("utf-8", "replace"))


def describe_rc(rc):
    if isinstance(rc, int) and rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit status %s" % rc


def ns_per_op(b):
    """Time per op in ns: 1e9 / items_per_second when the benchmark counts items (every one of
    ours does), else the iteration time (real time for */real_time benchmarks, else CPU time)."""
    ips = b.get("items_per_second")
    if ips:
        return 1e9 / ips
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
    t = b["real_time"] if "/real_time" in b["name"] else b["cpu_time"]
    return t * scale


def fmt_time(ns):
    if ns is None:
        return "—"
    for unit, div in (("ms", 1e6), ("µs", 1e3)):
        if ns >= div:
            return "%.3g %s" % (ns / div, unit)
    return "%.3g ns" % ns


def fmt_ratio(r):
    if r is None:
        return "—"
    return "%.3f" % r if r < 0.1 else "%.2f" % r


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def machine_info(build, allocs):
    info = {}
    info["date"] = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    try:
        info["nproc"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["nproc"] = os.cpu_count()
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cpu"] = model
    try:
        info["glibc"] = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        info["glibc"] = " ".join(platform.libc_ver())
    info["kernel"] = platform.release()
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "preload", "include"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
        info["lfh"] = (rev or "unknown") + (" + uncommitted changes in src/preload/include" if dirty else "")
    except OSError:
        info["lfh"] = "unknown"
    info["libs"] = [(n, p, os.path.realpath(p) if p else None) for n, p in allocs]
    return info


def smoke(binary, allocs, notes, filt):
    args = ["--benchmark_min_time=0.001"]
    if filt:
        args.append("--benchmark_filter=" + filt)
    for n in notes:
        print("note: " + n)
    failed = []
    for name, lib in allocs:
        t0 = time.time()
        rc, data, err = run_one(binary, lib, args, timeout=600)
        errs = []
        if data is not None:
            errs = [b["name"] for b in data.get("benchmarks", []) if b.get("error_occurred")]
        ok = rc == 0 and data is not None and not errs
        print("%-9s %s (%.1fs)%s" % (name, "ok" if ok else "FAILED: " + describe_rc(rc), time.time() - t0,
                                     " errors in: " + ", ".join(errs) if errs else ""))
        if not ok:
            failed.append(name)
            sys.stderr.write(err[-4000:])
    if failed:
        print("smoke: FAILED for " + ", ".join(failed))
        return 1
    print("smoke: all %d allocators ran every benchmark" % len(allocs))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir", nargs="?", help="CMake build directory (default: build/ or build-bench/)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    ap.add_argument("--min-time", type=float, help="--benchmark_min_time per benchmark, seconds (default 0.2)")
    ap.add_argument("--quick", action="store_true", help="min time 0.05 s (a full comparison in about 1 minute)")
    ap.add_argument("--smoke", action="store_true", help="run every benchmark once, briefly, per allocator; fail on a crash")
    ap.add_argument("--filter", help="--benchmark_filter regex")
    ap.add_argument("--allocators", help="comma-separated subset of: " + ",".join(n for n, _ in ALLOCATORS))
    ap.add_argument("--label", help="what lfh build this is, for the report (default: the git commit of this "
                    "checkout, or 'library from LFH_BENCH_LFH' when that is set)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "micro.md"), help="report path")
    ap.add_argument("--raw-dir", default=os.path.join(HERE, "results", "raw"), help="where raw JSON goes")
    opt = ap.parse_args()

    build = find_build_dir(opt.build_dir)
    binary = os.path.join(build, "bench", "lfh_bench_micro")
    wanted = set(opt.allocators.split(",")) if opt.allocators else None
    allocs, notes = resolve_allocators(build, wanted)
    if not any(n == "lfh" for n, _ in allocs) and (wanted is None or "lfh" in wanted):
        sys.exit("run_compare: %s/liblfh.so not found (build the lfh_shared target)" % build)

    if opt.smoke:
        return smoke(binary, allocs, notes, opt.filter)

    rounds = opt.rounds or 3
    min_time = opt.min_time or (0.05 if opt.quick else 0.2)
    args = ["--benchmark_min_time=%g" % min_time]
    if opt.filter:
        args.append("--benchmark_filter=" + opt.filter)
    os.makedirs(opt.raw_dir, exist_ok=True)

    # results[alloc][bench] = [ns per op, one per round]; crashes[alloc] = [messages]
    results = {n: {} for n, _ in allocs}
    order = []  # benchmark names in binary order
    crashes = {}
    provider = {}
    t_start = time.time()
    for r in range(rounds):
        for name, lib in allocs:
            t0 = time.time()
            rc, data, err = run_one(binary, lib, args, timeout=900)
            dt = time.time() - t0
            if data is None:
                msg = "round %d: %s" % (r + 1, describe_rc(rc))
                tail = err.strip().splitlines()[-3:]
                if tail:
                    msg += " — " + " / ".join(tail)
                crashes.setdefault(name, []).append(msg)
                print("[round %d/%d] %-9s CRASHED (%s)" % (r + 1, rounds, name, describe_rc(rc)), flush=True)
                continue
            with open(os.path.join(opt.raw_dir, "%s-r%d.json" % (name, r + 1)), "w") as f:
                json.dump(data, f, indent=1)
            provider[name] = data.get("context", {}).get("malloc_from", "?")
            for b in data.get("benchmarks", []):
                if b.get("run_type", "iteration") != "iteration":
                    continue
                if b.get("error_occurred"):
                    crashes.setdefault(name, []).append("round %d: %s: %s" % (r + 1, b["name"], b.get("error_message", "error")))
                    continue
                if b["name"] not in order:
                    order.append(b["name"])
                results[name].setdefault(b["name"], []).append(ns_per_op(b))
            print("[round %d/%d] %-9s %5.1fs  (malloc from %s)" % (r + 1, rounds, name, dt, provider[name]), flush=True)
    elapsed = time.time() - t_start

    names = [n for n, _ in allocs]
    others = [n for n in names if n != "lfh"]
    # A preload that did not take effect would silently measure glibc: flag it.
    for name, lib in allocs:
        if lib and name in provider and os.path.realpath(provider[name]) != os.path.realpath(lib):
            notes.append("%s: malloc was served by %s, not %s — its numbers are not %s's"
                         % (name, provider[name], lib, name))

    def med(a, b):
        v = results.get(a, {}).get(b)
        return statistics.median(v) if v else None

    def ratio(a, b):
        """median over rounds of t(a)/t(lfh), paired by round (rounds are interleaved)."""
        va, vl = results.get(a, {}).get(b), results.get("lfh", {}).get(b)
        if not va or not vl:
            return None
        n = min(len(va), len(vl))
        return statistics.median(va[i] / vl[i] for i in range(n))

    def spread(a, b):
        v = results.get(a, {}).get(b)
        if not v or len(v) < 2:
            return None
        m = statistics.median(v)
        return (max(v) - min(v)) / m * 100 if m else None

    def op_of(bname):
        return OPS.get(bname.split("/")[0], "iteration")

    info = machine_info(build, allocs)
    if opt.label:
        info["lfh"] = opt.label
    elif os.environ.get("LFH_BENCH_LFH"):
        info["lfh"] = "library given by LFH_BENCH_LFH (not necessarily this checkout)"
    L = []
    L.append("# lfh micro-benchmarks: lfh vs other allocators")
    L.append("")
    L.append("Generated by `bench/run_compare.py` — do not edit by hand. See `bench/README.md` for what each")
    L.append("benchmark measures.")
    L.append("")
    L.append("| | |")
    L.append("| --- | --- |")
    L.append("| date | %s |" % info["date"])
    L.append("| machine | %s, %s CPUs available, Linux %s |" % (info["cpu"], info["nproc"], info["kernel"]))
    L.append("| glibc | %s |" % info["glibc"])
    L.append("| lfh commit | %s |" % info["lfh"])
    for n, p, real in info["libs"]:
        if p:
            L.append("| %s | `%s`%s |" % (n, p, (" → `%s`" % os.path.basename(real)) if real and real != p else ""))
    L.append("| method | %d interleaved round(s) (one process per allocator per round, LD_PRELOAD), "
             "`--benchmark_min_time=%g`; %.0f s in all |" % (rounds, min_time, elapsed))
    L.append("")
    L.append("**Ratios are allocator time / lfh time: above 1.00 lfh is faster, below 1.00 it is slower.** Each "
             "ratio is the median over rounds of the per-round ratio (same round = same machine conditions). "
             "Times are medians over rounds, per op (the op column): wall-clock for `real_time` benchmarks, "
             "CPU time of both threads for `process_time` ones, CPU time of the benchmark thread otherwise; "
             "`threads:2` rows: two threads pinned to two CPUs, CPU time per op summed over both threads "
             "(same as the single-thread row if the threads do not slow each other down).")
    L.append("")
    for n in notes:
        L.append("- note: " + n)
    for n, msgs in crashes.items():
        for m in msgs:
            L.append("- **%s FAILED** %s" % (n, m))
    if notes or crashes:
        L.append("")

    def ratio_table(title, benches):
        L.append("## " + title)
        L.append("")
        L.append("| benchmark | op | lfh | " + " | ".join("%s/lfh" % o for o in others) + " |")
        L.append("| --- | --- | ---: | " + " | ".join("---:" for _ in others) + " |")
        for b in benches:
            L.append("| %s | %s | %s | %s |" % (b, op_of(b), fmt_time(med("lfh", b)),
                                              " | ".join(fmt_ratio(ratio(o, b)) for o in others)))
        L.append("| **geometric mean** | | | %s |" % " | ".join(
            "**%s**" % fmt_ratio(geomean([ratio(o, b) for b in benches])) for o in others))
        L.append("")

    main_benches = [b for b in MAIN if b in order]
    if main_benches:
        ratio_table("Main benchmarks", main_benches)
    ratio_table("All benchmarks: ratios", order)

    L.append("## All benchmarks: median time per op")
    L.append("")
    L.append("| benchmark | op | " + " | ".join(names) + " | lfh spread |")
    L.append("| --- | --- | " + " | ".join("---:" for _ in names) + " | ---: |")
    for b in order:
        s = spread("lfh", b)
        L.append("| %s | %s | %s | %s |" % (b, op_of(b), " | ".join(fmt_time(med(n, b)) for n in names),
                                           "—" if s is None else "%.0f%%" % s))
    L.append("")
    L.append("lfh spread: (max − min) / median of lfh's time over the rounds — a rough noise gauge for the row.")
    L.append("Raw JSON of every run: `bench/results/raw/` (not committed).")
    L.append("")

    os.makedirs(os.path.dirname(os.path.abspath(opt.out)), exist_ok=True)
    with open(opt.out, "w") as f:
        f.write("\n".join(L))
    print("wrote %s (%.0f s)" % (opt.out, elapsed))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
