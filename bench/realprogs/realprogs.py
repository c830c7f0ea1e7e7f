"""Real programs for the allocator comparison (used by bench/run_bench.py; python3 stdlib only).

Each program runs unmodified under the allocator picked with LD_PRELOAD, in its own process:

  python  /usr/bin/python3 running pykernels.py (nbody, richards-like, json, regex, dict/str
          churn) with PYTHONMALLOC=malloc, so Python's objects go through malloc instead of
          Python's own small-object allocator (pymalloc).
  gxx     g++ -std=c++20 -O2 -c of a generated header-heavy file (gen_heavy_cpp.py); the
          preload is inherited by cc1plus, where the work is.
  redis   redis-server on 127.0.0.1 (a free port), loaded by redis-benchmark (not preloaded)
          with a bounded number of requests; the server is always shut down at the end.
  sqlite  the sqlite3 shell building a 1 M-row table in memory, indexing and querying it.

run(prog, preload, name) returns a dict: seconds, peak_rss_kb (of the measured process and its
waited-for children, from wait4), ok, error (text), extra. A program that is not installed is
reported by available() and skipped.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


# The launcher that measures a command's peak RSS cleanly (bench/workloads/measure.cpp); set by
# run_bench.py. Without it, ru_maxrss of a command started from this (big) Python process would
# include this process's RSS at the fork.
MEASURE = None


def clean_env(extra=None):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if extra:
        env.update(extra)
    return env


def launch_argv(cmd, preload, stdin_path=None):
    """argv running cmd through the launcher (or with LD_PRELOAD set by env_for when there is none)."""
    if not MEASURE:
        return list(cmd)
    argv = [MEASURE]
    if preload:
        argv += ["--preload", preload]
    if stdin_path:
        argv += ["--stdin", stdin_path]
    return argv + ["--"] + list(cmd)


def env_for(preload, extra=None):
    env = clean_env(extra)
    if preload and not MEASURE:
        env["LD_PRELOAD"] = preload
    return env


def parse_measure(stderr_text):
    """-> (stderr without the launcher's line, exit code, seconds, maxrss_kb) or None values."""
    m = None
    lines = stderr_text.rstrip("\n").split("\n")
    if lines and lines[-1].startswith("MEASURE "):
        d = dict(tok.split("=", 1) for tok in lines[-1].split()[1:] if "=" in tok)
        m = (int(d["exit"]), float(d["seconds"]), int(d["maxrss_kb"]))
        lines = lines[:-1]
        if lines and lines[-1] == "":
            lines = lines[:-1]
    return ("\n".join(lines),) + (m if m else (None, None, None))


def run_measured(cmd, timeout, preload=None, env_extra=None, stdin_path=None, cwd=None):
    """Runs cmd (under the allocator `preload`, None = glibc) to completion.
    -> (returncode or 'timeout', stdout, stderr, wall seconds, peak RSS in KB of the command and
    its waited-for descendants)."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    argv = launch_argv(cmd, preload, stdin_path)
    fin = open(stdin_path, "rb") if (stdin_path and not MEASURE) else subprocess.DEVNULL
    t0 = time.perf_counter()
    try:
        p = subprocess.Popen(argv, env=env_for(preload, env_extra), stdout=out, stderr=err, stdin=fin, cwd=cwd,
                             start_new_session=True)
    finally:
        if fin is not subprocess.DEVNULL:
            fin.close()
    timed_out = []

    def kill():
        timed_out.append(True)
        try:
            os.killpg(p.pid, 9)
        except OSError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    so, se = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    out.close()
    err.close()
    rc, rss = p.returncode, ru.ru_maxrss
    if MEASURE:
        se, code, secs, mrss = parse_measure(se)
        if code is not None:
            rc, wall, rss = code, secs, mrss
            if rc > 128:
                rc = -(rc - 128)  # killed by a signal, as subprocess reports it
    if timed_out:
        rc = "timeout"
    return rc, so, se, wall, rss


def parse_result(text):
    """The last 'RESULT k=v ...' line of text as a dict, or None."""
    found = None
    for line in text.splitlines():
        if line.startswith("RESULT "):
            d = {}
            for tok in line.split()[1:]:
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    d[k] = v
            found = d
    return found


def _fail(msg, **kw):
    r = {"ok": False, "error": msg, "seconds": None, "peak_rss_kb": None, "extra": {}}
    r.update(kw)
    return r


def _tail(text, n=3):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return " / ".join(lines[-n:])


# ---- python ------------------------------------------------------------------------------------
class Python:
    name = "python"
    what = ("/usr/bin/python3 (PYTHONMALLOC=malloc) running pyperformance-like kernels: nbody, "
            "richards-like scheduler, json dumps/loads, regex, dict/str churn (bench/realprogs/pykernels.py); "
            "time = the kernels' own wall clock")
    exe = "/usr/bin/python3"

    def available(self):
        return (os.access(self.exe, os.X_OK), "%s not found" % self.exe)

    def prepare(self, workdir, quick):
        self.quick = quick

    def command(self):
        return [self.exe, os.path.join(HERE, "pykernels.py")] + (["--quick"] if self.quick else [])

    def run(self, preload, alloc):
        cmd = self.command()
        rc, so, se, wall, rss = run_measured(cmd, 600, preload, {"PYTHONMALLOC": "malloc"})
        res = parse_result(so)
        if rc != 0 or not res or res.get("check") != "ok":
            return _fail("exit %s: %s" % (rc, _tail(se or so)), cmd=cmd)
        if preload and res.get("malloc_from", "").startswith("NOT-MAPPED"):
            return _fail("preload not mapped: " + res["malloc_from"], cmd=cmd)
        return {"ok": True, "seconds": float(res["seconds"]), "peak_rss_kb": rss, "error": None,
                "extra": {"wall": wall}, "cmd": cmd}


# ---- g++ ---------------------------------------------------------------------------------------
class Gxx:
    name = "gxx"
    what = ("g++ -std=c++20 -O2 -c of a generated header-heavy file (70 standard headers, templates "
            "instantiated over containers, variant, ranges, function, pmr: bench/realprogs/gen_heavy_cpp.py); "
            "the preload reaches cc1plus; time = wall clock of the whole g++ run")

    def available(self):
        exe = shutil.which("g++")
        return (exe is not None, "g++ not found")

    def prepare(self, workdir, quick):
        self.dir = os.path.join(workdir, "gxx")
        os.makedirs(self.dir, exist_ok=True)
        self.src = os.path.join(self.dir, "heavy.cpp")
        self.obj = os.path.join(self.dir, "heavy.o")
        subprocess.run(["python3", os.path.join(HERE, "gen_heavy_cpp.py"), self.src, "0" if quick else "3"], check=True)
        self.opt = "-O0" if quick else "-O2"

    def command(self):
        return ["g++", "-std=c++20", self.opt, "-c", self.src, "-o", self.obj]

    def run(self, preload, alloc):
        try:
            os.unlink(self.obj)
        except OSError:
            pass
        cmd = self.command()
        rc, so, se, wall, rss = run_measured(cmd, 600, preload, cwd=self.dir)
        if rc != 0:
            return _fail("exit %s: %s" % (rc, _tail(se or so)), cmd=cmd)
        if not os.path.isfile(self.obj) or os.path.getsize(self.obj) < 1000:
            return _fail("no object file written", cmd=cmd)
        return {"ok": True, "seconds": wall, "peak_rss_kb": rss, "error": None, "extra": {}, "cmd": cmd}


# ---- sqlite3 -----------------------------------------------------------------------------------
SQL = """CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<{N})
INSERT INTO t SELECT x, x%1000, 'name-'||(x*7919%1000003), (x%977)*1.5 FROM c;
CREATE INDEX t_grp ON t(grp);
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(grp), sum(length(name)) FROM t;
SELECT grp, count(*), sum(val) FROM t GROUP BY grp ORDER BY sum(val) DESC, grp LIMIT 3;
SELECT count(*) FROM t a JOIN t b ON b.grp = a.id WHERE a.id < 10;
SELECT name FROM t ORDER BY name LIMIT 1 OFFSET {HALF};
SELECT count(DISTINCT val), max(name) FROM t WHERE grp BETWEEN 100 AND 200;
UPDATE t SET name = name || '-x' WHERE id % 10 = 0;
DELETE FROM t WHERE id % 3 = 0;
SELECT count(*), sum(length(name)) FROM t;
"""


def sqlite_expected(n):
    """The query results of SQL, computed in Python (rows of strings)."""
    ids = range(1, n + 1)
    names = {x: "name-%d" % (x * 7919 % 1000003) for x in ids}
    rows = []
    rows.append([str(n), str(sum(x % 1000 for x in ids)), str(sum(len(v) for v in names.values()))])
    groups = {}
    for x in ids:
        g = groups.setdefault(x % 1000, [0, 0.0])
        g[0] += 1
        g[1] += (x % 977) * 1.5
    top = sorted(groups.items(), key=lambda kv: (-kv[1][1], kv[0]))[:3]
    for g, (c, s) in top:
        rows.append([str(g), str(c), s])
    rows.append([str(sum(1 for x in ids if 1 <= x % 1000 <= 9))])
    rows.append([sorted(names.values())[n // 2]])
    sel = [x for x in ids if 100 <= x % 1000 <= 200]
    rows.append([str(len({(x % 977) * 1.5 for x in sel})), max(names[x] for x in sel)])
    left = [x for x in ids if x % 3 != 0]
    rows.append([str(len(left)), str(sum(len(names[x]) + (2 if x % 10 == 0 else 0) for x in left))])
    return rows


class Sqlite:
    name = "sqlite"
    what = ("sqlite3 shell, in-memory database: a 1 M-row table built with a recursive CTE, two "
            "indexes, aggregates, a join, an ORDER BY/OFFSET, an UPDATE and a DELETE; results checked "
            "against Python; time = wall clock")
    exe = shutil.which("sqlite3")

    def available(self):
        return (self.exe is not None, "sqlite3 not installed (apt install sqlite3)")

    def prepare(self, workdir, quick):
        self.n = 50_000 if quick else 1_000_000
        self.dir = os.path.join(workdir, "sqlite")
        os.makedirs(self.dir, exist_ok=True)
        self.script = os.path.join(self.dir, "bench.sql")
        with open(self.script, "w") as f:
            f.write(SQL.replace("{N}", str(self.n)).replace("{HALF}", str(self.n // 2)))
        self.expected = sqlite_expected(self.n)

    def command(self):
        return [self.exe, ":memory:"]

    def check(self, out):
        got = [line.split("|") for line in out.strip().splitlines()]
        if len(got) != len(self.expected):
            return "expected %d result rows, got %d" % (len(self.expected), len(got))
        for g, e in zip(got, self.expected):
            if len(g) != len(e):
                return "row %s, expected %s" % (g, e)
            for a, b in zip(g, e):
                if isinstance(b, float):
                    try:
                        if abs(float(a) - b) > 1e-6 * max(1.0, abs(b)):
                            return "value %s, expected %r" % (a, b)
                    except ValueError:
                        return "value %s, expected %r" % (a, b)
                elif a != b:
                    return "value %s, expected %s" % (a, b)
        return None

    def run(self, preload, alloc):
        cmd = self.command()
        rc, so, se, wall, rss = run_measured(cmd, 600, preload, stdin_path=self.script, cwd=self.dir)
        if rc != 0:
            return _fail("exit %s: %s" % (rc, _tail(se or so)), cmd=cmd + ["<", self.script])
        bad = self.check(so)
        if bad:
            return _fail("wrong result: " + bad, cmd=cmd + ["<", self.script])
        return {"ok": True, "seconds": wall, "peak_rss_kb": rss, "error": None, "extra": {}, "cmd": cmd + ["<", self.script]}


# ---- redis -------------------------------------------------------------------------------------
def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _redis_cmd(port, *args, timeout=5.0):
    """One RESP command over a fresh connection; returns the raw reply bytes."""
    payload = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() if isinstance(x, str) else x for x in args))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


class Redis:
    name = "redis"
    what = ("redis-server on 127.0.0.1 (no persistence), driven by redis-benchmark (not preloaded): "
            "SET GET INCR LPUSH LPOP SADD HSET ZADD LRANGE_100, 100 000 requests each, 16 clients, "
            "pipeline 8, 100 000 random keys, 128-byte values; time = wall clock of redis-benchmark, "
            "peak RSS = the server's")
    server = shutil.which("redis-server")
    client = shutil.which("redis-benchmark")

    def available(self):
        if not self.server or not self.client:
            return (False, "redis-server/redis-benchmark not installed (apt install redis-server redis-tools)")
        return (True, "")

    def prepare(self, workdir, quick):
        self.requests = 5000 if quick else 100_000
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)

    def command(self):
        return [self.server, "--port", "PORT", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", self.dir, "--logfile", ""]

    def run(self, preload, alloc):
        port = _free_port()
        cmd = [a if a != "PORT" else str(port) for a in self.command()]
        logpath = os.path.join(self.dir, "server.log")
        log = open(logpath, "wb")
        srv = subprocess.Popen(launch_argv(cmd, preload), env=env_for(preload), stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        rss = None
        try:
            deadline = time.time() + 15
            while True:
                try:
                    if _redis_cmd(port, "PING", timeout=1.0).startswith(b"+PONG"):
                        break
                except OSError:
                    pass
                if srv.poll() is not None or time.time() > deadline:
                    return _fail("server did not start (exit %s)" % srv.poll(), cmd=cmd)
                time.sleep(0.05)
            mapped = True
            if preload:
                server_pid = srv.pid
                if MEASURE:  # the server is the launcher's child
                    try:
                        with open("/proc/%d/task/%d/children" % (srv.pid, srv.pid)) as f:
                            server_pid = int(f.read().split()[0])
                    except (OSError, IndexError, ValueError):
                        pass
                try:
                    with open("/proc/%d/maps" % server_pid) as f:
                        maps = f.read()
                    mapped = preload in maps or os.path.realpath(preload) in maps
                except OSError:
                    pass
            bcmd = [self.client, "-h", "127.0.0.1", "-p", str(port), "-n", str(self.requests), "-c", "16",
                    "-P", "8", "-r", "100000", "-d", "128", "-t", "set,get,incr,lpush,lpop,sadd,hset,zadd,lrange_100",
                    "-q", "--csv"]
            rc, so, se, wall, _ = run_measured(bcmd, 600)
            if rc != 0:
                return _fail("redis-benchmark exit %s: %s" % (rc, _tail(se or so)), cmd=cmd)
            rps = {}
            for line in so.splitlines():
                parts = [p.strip('"') for p in line.split(",")]
                if len(parts) >= 2 and parts[0] != "test":
                    try:
                        rps[parts[0]] = float(parts[1])
                    except ValueError:
                        pass
            if len(rps) < 9 or min(rps.values()) <= 0:
                return _fail("redis-benchmark output incomplete: %s" % _tail(so), cmd=cmd)
            # Check the server still answers correctly.
            if _redis_cmd(port, "SET", "bench:check", "v" * 300) != b"+OK\r\n":
                return _fail("SET failed after the benchmark", cmd=cmd)
            if b"v" * 300 not in _redis_cmd(port, "GET", "bench:check"):
                return _fail("GET returned a wrong value after the benchmark", cmd=cmd)
            dbsize = _redis_cmd(port, "DBSIZE")
            try:
                keys = int(dbsize[1:].strip())
            except ValueError:
                keys = -1
            if keys < (100 if self.requests < 50_000 else 10_000):
                return _fail("DBSIZE %r after the benchmark" % dbsize, cmd=cmd)
            try:
                _redis_cmd(port, "SHUTDOWN", "NOSAVE", timeout=5.0)
            except OSError:
                pass  # the connection closes as the server exits
            try:
                srv.wait(30)
            except subprocess.TimeoutExpired:
                return _fail("server did not exit after SHUTDOWN", cmd=cmd)
            if MEASURE:
                with open(logpath, "rb") as f:
                    _, code, _, rss = parse_measure(f.read().decode("utf-8", "replace"))
            if rss is None:
                return _fail("no peak RSS for the server (launcher missing?)", cmd=cmd)
            if not mapped:
                return _fail("preload %s not mapped in redis-server" % preload, cmd=cmd)
            return {"ok": True, "seconds": wall, "peak_rss_kb": rss, "error": None,
                    "extra": {"rps_min": min(rps.values()), "keys": keys}, "cmd": cmd}
        finally:
            if srv.returncode is None:
                try:
                    os.killpg(srv.pid, 15)
                    try:
                        srv.wait(5)
                    except subprocess.TimeoutExpired:
                        os.killpg(srv.pid, 9)
                        srv.wait()
                except OSError:
                    pass


PROGRAMS = [Python(), Gxx(), Redis(), Sqlite()]
