#!/usr/bin/env python3
"""pyperformance-like kernels for the allocator comparison (run with PYTHONMALLOC=malloc so that
every Python object goes through malloc/free, i.e. through the allocator under LD_PRELOAD).

Each kernel checks its own result; the script exits 1 on a mismatch and prints one line
  RESULT name=python seconds=... check=ok malloc_from=...
Standard library only. Usage: pykernels.py [--quick]
"""
import json
import os
import re
import sys
import time

QUICK = "--quick" in sys.argv
SCALE = 0.05 if QUICK else 1.0


def n(x):
    return max(1, int(x * SCALE))


# ---- nbody (pyperformance bm_nbody, shortened) -------------------------------------------------
def nbody(steps):
    PI = 3.14159265358979323
    SOLAR_MASS = 4 * PI * PI
    DAYS_PER_YEAR = 365.24
    bodies = [
        [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], SOLAR_MASS],
        [[4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01],
         [1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
          -6.90460016972063023e-05 * DAYS_PER_YEAR], 9.54791938424326609e-04 * SOLAR_MASS],
        [[8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01],
         [-2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
          2.30417297573763929e-05 * DAYS_PER_YEAR], 2.85885980666130812e-04 * SOLAR_MASS],
        [[1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01],
         [2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
          -2.96589568540237556e-05 * DAYS_PER_YEAR], 4.36624404335156298e-05 * SOLAR_MASS],
        [[1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01],
         [2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
          -9.51592254519715870e-05 * DAYS_PER_YEAR], 5.15138902046611451e-05 * SOLAR_MASS],
    ]
    pairs = [(bodies[i], bodies[j]) for i in range(5) for j in range(i + 1, 5)]

    def energy():
        e = 0.0
        for ((x1, y1, z1), v1, m1), ((x2, y2, z2), v2, m2) in pairs:
            e -= (m1 * m2) / (((x1 - x2) ** 2 + (y1 - y2) ** 2 + (z1 - z2) ** 2) ** 0.5)
        for (r, [vx, vy, vz], m) in bodies:
            e += m * (vx * vx + vy * vy + vz * vz) / 2.
        return e

    # offset momentum
    px = py = pz = 0.0
    for (r, [vx, vy, vz], m) in bodies:
        px -= vx * m
        py -= vy * m
        pz -= vz * m
    v = bodies[0][1]
    v[0], v[1], v[2] = px / SOLAR_MASS, py / SOLAR_MASS, pz / SOLAR_MASS
    e0 = energy()
    dt = 0.01
    for _ in range(steps):
        for (([x1, y1, z1], v1, m1), ([x2, y2, z2], v2, m2)) in pairs:
            dx, dy, dz = x1 - x2, y1 - y2, z1 - z2
            mag = dt * ((dx * dx + dy * dy + dz * dz) ** (-1.5))
            b1m, b2m = m1 * mag, m2 * mag
            v1[0] -= dx * b2m
            v1[1] -= dy * b2m
            v1[2] -= dz * b2m
            v2[0] += dx * b1m
            v2[1] += dy * b1m
            v2[2] += dz * b1m
        for (r, [vx, vy, vz], m) in bodies:
            r[0] += dt * vx
            r[1] += dt * vy
            r[2] += dt * vz
    e1 = energy()
    assert abs(e0 - -0.169075164) < 1e-8, e0
    assert abs(e1 - e0) < 1e-4, (e0, e1)  # energy is conserved
    return e1


# ---- richards-like task scheduler: objects and method calls ------------------------------------
class Packet:
    __slots__ = ("link", "ident", "kind", "datum", "data")

    def __init__(self, link, ident, kind):
        self.link, self.ident, self.kind, self.datum = link, ident, kind, 0
        self.data = [0] * 4


class Task:
    def __init__(self, ident, prio, work):
        self.ident, self.prio, self.queue, self.work, self.count = ident, prio, [], work, 0


def richards(rounds):
    total = 0
    for r in range(rounds):
        tasks = [Task(i, (i * 7) % 5, None) for i in range(10)]
        sched = sorted(tasks, key=lambda t: -t.prio)
        for step in range(400):
            t = sched[step % len(sched)]
            p = Packet(None, t.ident, step % 3)
            p.data = [step, step * 2, step * 3, t.ident]
            t.queue.append(p)
            if len(t.queue) > 3:
                q = t.queue.pop(0)
                t.count += sum(q.data) + q.kind
                dest = tasks[(q.ident + q.kind + 1) % len(tasks)]
                dest.queue.append(Packet(None, dest.ident, (q.kind + 1) % 3))
        total += sum(t.count for t in tasks)
    return total


def richards_expected(rounds):
    # the same bookkeeping without objects (sums only depend on the sequence)
    total = 0
    for r in range(rounds):
        prios = [(i * 7) % 5 for i in range(10)]
        order = sorted(range(10), key=lambda i: -prios[i])
        queues = [[] for _ in range(10)]
        counts = [0] * 10
        for step in range(400):
            t = order[step % 10]
            queues[t].append((t, step % 3, (step, step * 2, step * 3, t)))
            if len(queues[t]) > 3:
                ident, kind, data = queues[t].pop(0)
                counts[t] += sum(data) + kind
                d = (ident + kind + 1) % 10
                queues[d].append((d, (kind + 1) % 3, (0, 0, 0, 0)))
        total += sum(counts)
    return total


# ---- json dumps/loads ---------------------------------------------------------------------------
def json_kernel(rounds):
    doc = {
        "users": [{"id": i, "name": "user%05d" % i, "tags": ["t%d" % (i % 7), "g%d" % (i % 3)],
                   "score": i * 1.25, "active": i % 2 == 0, "friends": list(range(i % 10))}
                  for i in range(300)],
        "meta": {"version": 3, "title": "x" * 200, "nested": [[{"a": j, "b": [j] * 3} for j in range(5)]] * 4},
    }
    total = 0
    for _ in range(rounds):
        s = json.dumps(doc, sort_keys=True)
        back = json.loads(s)
        assert back == doc
        total += len(s)
    return total


# ---- regex ---------------------------------------------------------------------------------------
def regex_kernel(rounds):
    words = ["alpha", "beta42", "gamma_7", "delta", "eps1lon", "zeta", "eta99", "theta"]
    text = " ".join("%s=%d;" % (words[i % len(words)], i) for i in range(2000))
    pat = re.compile(r"([a-z_]+)(\d*)=(\d+);")
    mail = re.compile(r"\b[\w.]+@[\w.]+\.(com|org)\b")
    emails = " ".join("n%d@h%d.%s" % (i, i % 13, "com" if i % 2 else "org") for i in range(500))
    count = 0
    for _ in range(rounds):
        m = pat.findall(text)
        count += len(m)
        count += sum(1 for _ in mail.finditer(emails))
        count += len(re.sub(r"\d+", "#", text))
    return count


def regex_expected(rounds):
    words = ["alpha", "beta42", "gamma_7", "delta", "eps1lon", "zeta", "eta99", "theta"]
    text = " ".join("%s=%d;" % (words[i % len(words)], i) for i in range(2000))
    subst = []  # re.sub(r"\d+", "#", text) by hand
    i = 0
    while i < len(text):
        if text[i].isdigit():
            while i < len(text) and text[i].isdigit():
                i += 1
            subst.append("#")
        else:
            subst.append(text[i])
            i += 1
    return rounds * (2000 + 500 + len("".join(subst)))


# ---- dict / str churn --------------------------------------------------------------------------
def dict_str_kernel(rounds):
    total = 0
    for r in range(rounds):
        d = {}
        for i in range(20000):
            k = "k%d_%s" % (i % 5000, "x" * (i % 17))
            d[k] = d.get(k, "") + str(i % 10)
        parts = sorted(d.items())
        s = "|".join(k + ":" + v for k, v in parts[:2000])
        total += len(d) + len(s)
        for k in list(d)[::2]:
            del d[k]
        total += len(d)
    return total


def dict_str_expected(rounds):
    d = {}
    for i in range(20000):
        k = (i % 5000, i % 17)
        d[k] = d.get(k, 0) + 1
    keys = sorted(d, key=lambda k: "k%d_%s" % (k[0], "x" * k[1]))
    s_len = sum(len("k%d_" % k[0] + "x" * k[1]) + 1 + d[k] for k in keys[:2000]) + 1999
    return rounds * (len(d) + s_len + (len(d) - (len(d) + 1) // 2))


def malloc_from():
    """The preloaded library if it is really mapped into this process, else "libc". (dladdr on
    malloc is no help here: a non-PIE python3 defines malloc itself, as its PLT entry.)"""
    pre = os.environ.get("LD_PRELOAD", "").split(":")[0].strip()
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return "?"
    if pre:
        real = os.path.realpath(pre)
        return pre if (pre in maps or real in maps) else "NOT-MAPPED:" + pre
    return "libc"


def main():
    t0 = time.perf_counter()
    ok = True
    nbody(n(150000))
    r = n(2000)
    if richards(r) != richards_expected(r):
        print("richards mismatch", file=sys.stderr)
        ok = False
    json_kernel(n(600))
    r = n(500)
    got = regex_kernel(r)
    if got != regex_expected(r):
        print("regex mismatch: %d vs %d" % (got, regex_expected(r)), file=sys.stderr)
        ok = False
    r = n(50)
    got = dict_str_kernel(r)
    if got != dict_str_expected(r):
        print("dict/str mismatch: %d vs %d" % (got, dict_str_expected(r)), file=sys.stderr)
        ok = False
    secs = time.perf_counter() - t0
    print("RESULT name=python seconds=%.4f check=%s malloc_from=%s" % (secs, "ok" if ok else "FAIL", malloc_from()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
