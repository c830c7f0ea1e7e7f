#!/usr/bin/env bash
# real_program.sh NAME — run a real program on a small job (the environment, LD_PRELOAD and the
# LFH_* variables included, is the caller's). Exit 77 when the program is not installed.
#   python  /usr/bin/python3: json, re, threads, a subprocess, a dict of $LFH_TEST_SCALE (20000)
#           entries
#   gxx     g++ -fsyntax-only on a small C++ file (small.cpp next to this script)
#   git     git init / add / commit / log / status in a fresh repository
set -eu
here=$(cd "$(dirname "$0")" && pwd)
case $1 in
  python)
    [ -x /usr/bin/python3 ] || exit 77
    /usr/bin/python3 - "${LFH_TEST_SCALE:-20000}" <<'PY'
import json, re, sys, threading, subprocess
n = int(sys.argv[1])
d = {str(i): [i] * 3 for i in range(n)}
s = json.dumps(d)
assert len(json.loads(s)) == n and len(re.findall(r"\d+", s)) == 4 * n
def work(k):
    x = [bytearray((i * 37 + k) % 5000) for i in range(2000)]
    del x[::2]
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
assert subprocess.run(["echo", "hi"], capture_output=True).stdout == b"hi\n"
print("python ok")
PY
    ;;
  gxx)
    command -v g++ >/dev/null || exit 77
    g++ -fsyntax-only -std=c++17 "$here/small.cpp"
    echo "g++ ok" ;;
  git)
    command -v git >/dev/null || exit 77
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    export HOME=$dir GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
    cd "$dir"
    git init -q repo
    cd repo
    for i in 1 2 3 4 5; do seq 1 $((i * 200)) > "f$i.txt"; done
    git add .
    git commit -qm first
    echo change >> f3.txt
    git commit -qam second
    git log --oneline | wc -l | grep -q 2
    git status --short
    git diff HEAD~1 --stat >/dev/null
    echo "git ok" ;;
  *) echo "real_program.sh: unknown program $1" >&2; exit 2 ;;
esac
