#!/usr/bin/env python3
"""Tests of lfh's statistics and of the `lfh` tool's stat / map / diff verbs (one CTest test per
case):  tool_test.py CASE --lfh PATH --prog PATH --lib PATH

  run_stats  `lfh run --stats -- python3 -c ...` prints the summary with the bucket table
  json       lfh_stats_print(JSON | REGIONS) parses (python3 -m json.tool) and holds the picture
  stat       `lfh stat --once PID` reads a live process (LFH_STATS_LIVE=1) and shows its buckets;
             the segment is mode 0600 and gone after the process exits
  stat_tag   … and shows its pool tag "Tst1" (needs LFH_TAGS=1 tag accounting)
  map        `lfh map` writes well-formed SVG, one <g class="region"> per region of the snapshot
             (from a JSON file and from a live pid), and an HTML page with --html
  render     the SVG rendered to PNG by rsvg-convert: right size, not one colour
  diff       `lfh diff A B` names the bucket that grew (700-byte requests, +3000 blocks)
  diff_tag   … and the tag that grew ("Grow"; needs LFH_TAGS=1 tag accounting)
  fork       a fork child publishes its own segment and removes only that one at exit; the
             parent's stays until the parent exits
  errors     no such pid, no live segment, not lfh's: exit 2 and one `lfh: ` line; usage: exit 1
"""
import argparse
import json
import os
import re
import shutil
import signal
import stat as statmod
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zlib

SKIP = 77


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def skip_no_tags():
    # LFH_TAGS=1 was set, but the library reports tag accounting off: the per-tag table
    # (src/debug/tag_table.cpp) is not implemented in this build yet. Once it is, these checks run.
    print("SKIP: LFH_TAGS=1 but the library has no tag accounting yet (debug::tags_on() is false)")
    sys.exit(SKIP)


def run(cmd, env=None, timeout=60):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout)


class Live:
    """stats_program live, with LFH_STATS_LIVE=1; stopped by SIGTERM (so it exits normally)."""

    def __init__(self, args, extra_env=None):
        env = dict(os.environ)
        env["LFH_STATS_LIVE"] = "1"
        env.update(extra_env or {})
        self.p = subprocess.Popen([args.prog, "live", "60"], env=env, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        check(line.startswith("ready"), "stats_program did not start: %r" % line)
        self.pid = self.p.pid
        self.lfh = args.lfh

    def wait_segment(self):
        """`lfh stat --once` until the first tick has published (about a second after start)."""
        deadline = time.time() + 15
        while True:
            r = run([self.lfh, "stat", "--once", "--rows", "200", str(self.pid)])
            if r.returncode == 0:
                return r
            if time.time() > deadline:
                fail("no live segment after 15 s: rc %d, %s" % (r.returncode, r.stderr.strip()))
            time.sleep(0.2)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=20)


def snapshot_with_regions(args, tmp, extra_env=None):
    path = os.path.join(tmp, "regions.json")
    r = run([args.prog, "regions", path], env=extra_env)
    check(r.returncode == 0, "stats_program regions failed: %s" % r.stderr)
    with open(path) as f:
        return path, json.load(f)


def case_run_stats(args, tmp):
    r = run([args.lfh, "run", "--stats", "--", sys.executable, "-c", "x = [bytearray(100) for _ in range(5000)]"])
    check(r.returncode == 0, "lfh run failed: rc %d %s" % (r.returncode, r.stderr[-400:]))
    for want in ("lfh: statistics for pid", "small allocations (LFH)", "lfh: tiers", "lfh: heaps", "lfh: buckets"):
        check(want in r.stderr, "summary lacks %r:\n%s" % (want, r.stderr[-2000:]))


def case_json(args, tmp):
    path, d = snapshot_with_regions(args, tmp)
    r = run([sys.executable, "-m", "json.tool", path])
    check(r.returncode == 0, "python3 -m json.tool rejects the snapshot: %s" % r.stderr)
    check(d.get("format") == "lfh-stats", "no format key")
    check(len(d["heaps"]) == 2, "expected 2 heaps, got %d" % len(d["heaps"]))
    check(d["totals"]["heaps"] == 2, "totals.heaps")
    big = [b for b in d["buckets"] if b["heap"] == 0 and b["block_size"] >= 200 and b["blocks_in_use"] >= 5000]
    check(big, "no bucket of heap 0 with the 5000 blocks of 200 bytes")
    priv = [b for b in d["buckets"] if b["heap"] == 1 and b["blocks_in_use"] == 100]
    check(priv, "no bucket of heap 1 with exactly 100 blocks in use")
    kinds = {g["kind"] for g in d["regions"]}
    check({"lfh", "lfh_reserve", "core", "direct"} <= kinds, "region kinds missing: %s" % kinds)
    check(d["regions_omitted"] == 0, "regions omitted")
    check(sum(1 for g in d["regions"] if g["kind"] == "lfh") == d["totals"]["lfh_subsegments"],
          "one lfh region per subsegment")


def case_stat(args, tmp, tags=False):
    live = Live(args, {"LFH_TAGS": "1"} if tags else None)
    try:
        r = live.wait_segment()
        out = r.stdout
        seg = "/dev/shm/lfh.%d" % live.pid
        mode = statmod.S_IMODE(os.stat(seg).st_mode)
        check(mode == 0o600, "segment mode %o, expected 600" % mode)
        check(re.search(r"lfh stat: pid %d" % live.pid, out), "no header line:\n" + out)
        # The bucket of the 5000 × 200-byte blocks: a row with heap 0 and IN-USE ≥ 5000.
        rows = [l.split() for l in out.splitlines() if re.match(r"^\s+\d+\s+\d+\s+\d+\s+\d+\s", l)]
        check(any(len(x) > 3 and x[0] == "0" and int(x[2]) >= 200 and int(x[3]) >= 5000 for x in rows),
              "no bucket row with 5000 blocks of 200 bytes:\n" + out)
        check(any(len(x) > 3 and x[0] == "1" and int(x[3]) == 100 for x in rows),
              "no bucket row of the private heap with 100 blocks:\n" + out)
        if tags:
            if "tags: off in this process" in out:
                live.stop()
                skip_no_tags()
            m = re.search(r"^ Tst1\s+(\d+)\s+(\d+)\s+(\d+)", out, re.M)
            check(m, "tag Tst1 not shown (pool tags from LFH_TAGS=1):\n" + out)
            check(int(m.group(3)) >= 5000, "tag Tst1 holds %s blocks, expected 5000" % m.group(3))
        # A refreshing run (two tables) works too.
        r2 = run([args.lfh, "stat", "--interval", "0.2", "-n", "2", str(live.pid)])
        check(r2.returncode == 0 and r2.stdout.count("lfh stat: pid") == 2, "refresh: " + r2.stderr)
    finally:
        live.stop()
    check(live.p.returncode == 0, "stats_program exited %d" % live.p.returncode)
    check(not os.path.exists("/dev/shm/lfh.%d" % live.pid), "segment left behind after exit")


def case_fork(args, tmp):
    env = dict(os.environ)
    env["LFH_STATS_LIVE"] = "1"
    p = subprocess.Popen([args.prog, "fork"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split()
        check(len(line) == 3 and line[0] == "ready", "stats_program fork did not start: %r" % line)
        parent, child = int(line[1]), int(line[2])
        deadline = time.time() + 3
        seen = False
        while time.time() < deadline and not seen:   # the child's first tick: ~1 s after the fork
            r = run([args.lfh, "stat", "--once", str(child)])
            seen = r.returncode == 0 and ("lfh stat: pid %d" % child) in r.stdout
            time.sleep(0.1)
        check(seen, "the fork child never published /dev/shm/lfh.%d" % child)
        line = p.stdout.readline().split()
        check(line == ["child-exited", "0"], "child: %r" % line)
        check(not os.path.exists("/dev/shm/lfh.%d" % child), "the child's segment outlived it")
        check(os.path.exists("/dev/shm/lfh.%d" % parent), "the child's exit removed the parent's segment")
        r = run([args.lfh, "stat", "--once", str(parent)])
        check(r.returncode == 0 and ("lfh stat: pid %d" % parent) in r.stdout, "parent unreadable: " + r.stderr)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
    check(not os.path.exists("/dev/shm/lfh.%d" % parent), "the parent's segment outlived it")


def region_groups(svg_path):
    root = ET.parse(svg_path).getroot()
    return [g for g in root.iter("{http://www.w3.org/2000/svg}g") if "region" in g.get("class", "").split()]


def case_map(args, tmp):
    path, d = snapshot_with_regions(args, tmp)
    svg = os.path.join(tmp, "heap.svg")
    r = run([args.lfh, "map", "--from", path, "-o", svg])
    check(r.returncode == 0, "lfh map --from failed: %s" % r.stderr)
    groups = region_groups(svg)   # ET.parse: well-formed XML or an exception
    check(len(groups) == len(d["regions"]), "%d region elements for %d regions" % (len(groups), len(d["regions"])))
    check({g.get("data-kind") for g in groups} == {x["kind"] for x in d["regions"]}, "region kinds differ")
    if shutil.which("xmllint"):
        x = run(["xmllint", "--noout", svg])
        check(x.returncode == 0, "xmllint: " + x.stderr)
    html = os.path.join(tmp, "heap.html")
    r = run([args.lfh, "map", "--from", path, "-o", html, "--html"])
    check(r.returncode == 0, "lfh map --html failed: %s" % r.stderr)
    text = open(html).read()
    check("<svg" in text and "<script>" in text and text.count('class="region ') == len(d["regions"]), "html page")
    # From a live process: the picture's regions are all there.
    live = Live(args)
    try:
        live.wait_segment()
        svg2 = os.path.join(tmp, "live.svg")
        r = run([args.lfh, "map", str(live.pid), "-o", svg2])
        check(r.returncode == 0, "lfh map PID failed: %s" % r.stderr)
        kinds = [g.get("data-kind") for g in region_groups(svg2)]
        check({"lfh", "lfh_reserve", "core", "direct"} <= set(kinds), "live map kinds: %s" % set(kinds))
        check(any(g.get("data-resident", "0") != "0" for g in region_groups(svg2)), "no resident bytes measured")
    finally:
        live.stop()


def png_pixels(path):
    """(width, height, set of distinct RGBA pixels) of an 8-bit RGBA or RGB PNG."""
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            check(depth == 8 and ctype in (2, 6), "unexpected PNG format %d/%d" % (depth, ctype))
            bpp = 4 if ctype == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:
            for i in range(0, stride, bpp * 3):
                colours.add(bytes(line[i:i + bpp]))
        prev = line
    return width, height, colours


def case_render(args, tmp):
    conv = shutil.which("rsvg-convert")
    if not conv:
        if os.environ.get("CI"):
            fail("rsvg-convert missing (Debian librsvg2-bin; scripts/test.sh installs it)")
        print("SKIP: rsvg-convert not installed (apt-get install librsvg2-bin)")
        sys.exit(SKIP)
    path, d = snapshot_with_regions(args, tmp)
    svg = os.path.join(tmp, "heap.svg")
    check(run([args.lfh, "map", "--from", path, "-o", svg]).returncode == 0, "lfh map failed")
    root = ET.parse(svg).getroot()
    w, h = int(float(root.get("width"))), int(float(root.get("height")))
    png = os.path.join(tmp, "heap.png")
    r = run([conv, "-o", png, svg])
    check(r.returncode == 0, "rsvg-convert failed: " + r.stderr)
    check(os.path.getsize(png) > 1000, "PNG suspiciously small")
    pw, ph, colours = png_pixels(png)
    check((pw, ph) == (w, h), "PNG is %dx%d, SVG says %dx%d" % (pw, ph, w, h))
    check(len(colours) >= 6, "PNG has %d colours: it drew nothing" % len(colours))
    if os.environ.get("LFH_KEEP_PNG"):
        shutil.copy(png, os.environ["LFH_KEEP_PNG"])


def diff_output(args, tmp, extra_env=None):
    a, b = os.path.join(tmp, "a.json"), os.path.join(tmp, "b.json")
    r = run([args.prog, "snapshots", a, b], env=extra_env)
    check(r.returncode == 0, "stats_program snapshots failed: " + r.stderr)
    r = run([args.lfh, "diff", a, b])
    check(r.returncode == 0, "lfh diff failed: " + r.stderr)
    return r.stdout


def case_diff(args, tmp):
    out = diff_output(args, tmp)
    sect = out.split("buckets that grew")[1].split("\n")
    first = next((l for l in sect[1:] if l.strip()), "")
    m = re.search(r"heap 0 bucket \d+ \((\d+)-byte blocks\).*\(\+(\d+) blocks\)", first)
    check(m, "first grown bucket line not understood:\n" + out)
    check(700 <= int(m.group(1)) < 800 and int(m.group(2)) == 3000, "grown bucket: " + first)
    check("lfh_blocks_in_use" in out, "totals section lacks lfh_blocks_in_use:\n" + out)


def case_diff_tag(args, tmp):
    out = diff_output(args, tmp, {"LFH_TAGS": "1"})
    if "tags: off in both snapshots" in out:
        skip_no_tags()
    sect = out.split("tags that grew")
    check(len(sect) == 2, "no tag section (pool tags from LFH_TAGS=1):\n" + out)
    check(re.search(r"tag Grow: .*\(\+3000 blocks\)", sect[1]), "tag Grow not named:\n" + out)


def expect_error(args, cmd, rc, pattern):
    r = run([args.lfh] + cmd)
    lines = r.stderr.strip().splitlines()
    check(r.returncode == rc, "%s: exit %d, expected %d (%s)" % (cmd, r.returncode, rc, r.stderr))
    check(len(lines) == 1 and lines[0].startswith("lfh: ") and re.search(pattern, lines[0]),
          "%s: stderr %r does not match %r" % (cmd, r.stderr, pattern))


def case_errors(args, tmp):
    pid = 4194000
    while os.path.exists("/proc/%d" % pid):
        pid -= 1
    expect_error(args, ["stat", "--once", str(pid)], 2, r"no process with pid")
    expect_error(args, ["map", str(pid), "-o", os.path.join(tmp, "x.svg")], 2, r"no process with pid")
    me = os.getpid()   # alive, not on lfh: no segment
    expect_error(args, ["stat", "--once", str(me)], 2, r"has no live statistics.*LFH_STATS_LIVE=1")
    seg = "/dev/shm/lfh.%d" % me   # a file that is not lfh's
    with open(seg, "wb") as f:
        f.write(b"\x01" * 65536)
    try:
        expect_error(args, ["stat", "--once", str(me)], 2, r"not an lfh statistics segment")
    finally:
        os.unlink(seg)
    junk = os.path.join(tmp, "junk.json")
    open(junk, "w").write("{not json")
    expect_error(args, ["map", "--from", junk, "-o", os.path.join(tmp, "x.svg")], 2, r"is not JSON")
    open(junk, "w").write('{"a": 1}')
    expect_error(args, ["diff", junk, junk], 2, r"not an lfh statistics snapshot")
    expect_error(args, ["map", "--from", "/nonexistent.json", "-o", os.path.join(tmp, "x.svg")], 2, r"cannot read")
    expect_error(args, ["stat"], 1, r"which process")
    expect_error(args, ["stat", "--sort", "size", "1"], 1, r"--sort must be")
    expect_error(args, ["diff", "a.json"], 1, r"needs two snapshots")
    expect_error(args, ["map", "-o", "x.svg"], 1, r"either a PID or --from")
    for verb in ("stat", "map", "diff"):
        r = run([args.lfh, verb, "--help"])
        check(r.returncode == 0 and "usage: lfh " + verb in r.stdout and "exit status" in r.stdout, verb + " --help")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--lfh", required=True)
    ap.add_argument("--prog", required=True)
    ap.add_argument("--lib", required=True)
    args = ap.parse_args()
    cases = {"run_stats": case_run_stats, "json": case_json, "stat": case_stat,
             "stat_tag": lambda a, t: case_stat(a, t, tags=True), "map": case_map, "render": case_render,
             "diff": case_diff, "diff_tag": case_diff_tag, "fork": case_fork, "errors": case_errors}
    with tempfile.TemporaryDirectory() as tmp:
        cases[args.case](args, tmp)
    print("ok: " + args.case)


if __name__ == "__main__":
    main()
