#!/usr/bin/env python3
"""tags_example_leaky: run examples/tags/leaky.c under `lfh run --leaks` and check the report.

usage: check_leaky.py LFH_TOOL EXAMPLE_LEAKY

The example leaks 4 x 40000 bytes under "Img ", 13 x 1024 under "Json", 3 x 1500 under "Conn".
The report must list them with exact counts, ranked by bytes, say that reachable memory is
included, and give the three leak sites (one or more per tag) whose first frame is in the example itself.
"""
import re
import subprocess
import sys


def main():
    tool, prog = sys.argv[1], sys.argv[2]
    r = subprocess.run([tool, "run", "--leaks", "--", prog], capture_output=True, text=True, timeout=50)
    out, err = r.stdout, r.stderr
    problems = []
    if r.returncode != 0:
        problems.append(f"exit status {r.returncode}")
    if "served 20 requests (13 bad), 9 connections" not in out:
        problems.append("the program's own output is missing")
    m = re.search(r"^lfh: leak report \(pid \d+\): (\d+) blocks, (\d+) bytes \([0-9.]+[KMG]?\) not freed, under (\d+) tags$", err, re.M)
    if not m:
        problems.append("no leak report header")
    elif int(m.group(1)) < 20 or int(m.group(2)) < 160000 + 13312 + 4500:
        problems.append(f"header totals too small: {m.group(0)}")
    if "memory still reachable from globals included" not in err:
        problems.append("the report does not say reachable memory is included")
    rows = re.findall(r"^lfh:   (\S.{3}) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+)$", err, re.M)
    table = {t: tuple(int(x) for x in rest) for t, *rest in rows}
    want = {"Img ": (4, 160000, 5, 1, 260000), "Json": (13, 13312, 20, 7, 13312), "Conn": (3, 4500, 9, 6, 4500)}
    for tag, values in want.items():
        if table.get(tag) != values:
            problems.append(f"row {tag!r}: {table.get(tag)} (want blocks, bytes, allocs, frees, peak = {values})")
    order = [t for t, *_ in rows]
    if all(t in order for t in want) and not order.index("Img ") < order.index("Json") < order.index("Conn"):
        problems.append(f"rows not ranked by bytes: {order}")
    # Sites: a compiler may unroll a loop into several call sites; together they hold the tag's
    # blocks, and each one's first frame is in the example itself.
    sites = re.findall(r"^lfh:   (\S.{3}): (\d+) blocks?, (\d+) bytes, allocated at:\nlfh:     #0 0x[0-9a-f]+ (\S+)\+0x[0-9a-f]+$",
                       err, re.M)
    for tag, (blocks, nbytes, *_rest) in want.items():
        mine = [s for s in sites if s[0] == tag]
        if (sum(int(s[1]) for s in mine), sum(int(s[2]) for s in mine)) != (blocks, nbytes):
            problems.append(f"leak sites of {tag!r}: {mine} (want {blocks} blocks, {nbytes} bytes in all)")
        for s in mine:
            if not s[3].endswith("example_leaky"):
                problems.append(f"a {tag!r} site's first frame is in {s[3]}, not the example")
    if problems:
        sys.stdout.write(out)
        sys.stderr.write(err)
        print("FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("leak report OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
