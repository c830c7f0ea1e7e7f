#!/usr/bin/env bash
# bench_debug.sh — what the debug layer costs on real programs: wall and CPU time (medians of
# RUNS) and peak RSS of python3, g++ -fsyntax-only and git under each setting, as ratios to lfh with the
# debug layer off; and, where installed (Debian: electric-fence, duma), those libraries on the
# same jobs for comparison with the full page heap.
#
#   tests/debug/bench_debug.sh LIBLFH.so [RUNS]      (RUNS defaults to 5)
#
# Jobs: python — json/re/threads/subprocess on a 20000-entry dict (real_program.sh's job);
#       g++    — g++ -fsyntax-only on a file including <map>, <string>, <vector>, <algorithm>;
#       git    — git log -p --stat in a repository of 200 files and 20 commits.
set -eu
lib=$(realpath "$1")
runs=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/t.cpp" <<'CPP'
#include <algorithm>
#include <map>
#include <string>
#include <vector>
int f() {
  std::map<std::string, std::vector<int>> m;
  m["a"].push_back(1);
  std::vector<int> v{3, 1, 2};
  std::sort(v.begin(), v.end());
  return int(m.size()) + v[0];
}
CPP
(
  export HOME=$work GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@b GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@b
  cd "$work" && git init -q repo && cd repo
  for c in $(seq 1 20); do
    for f in $(seq 1 200); do echo "line $c of file $f" >> "f$f.txt"; done
    git add . && git commit -qm "commit $c"
  done
)

cat > "$work/job.py" <<'PY'
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
PY

# The command line of each job (LD_PRELOAD applies to it and the processes it starts).
job() {
  case $1 in
    python) echo "/usr/bin/python3 $work/job.py 20000" ;;
    gxx) echo "g++ -fsyntax-only $work/t.cpp" ;;
    git) echo "git -C $work/repo log -p --stat" ;;
  esac
}

# measure PROGRAM VAR=value... → "median_wall_s median_cpu_s max_rss_kb" (cpu: user+sys of the
# job and its children — steadier than wall time on a shared machine)
measure() {
  local prog=$1
  shift
  local walls=() cpus=() rss=0
  for _ in $(seq 1 "$runs"); do
    # shellcheck disable=SC2046
    HOME=$work /usr/bin/time -o "$work/time" -f "%e %U %S %M" env "$@" $(job "$prog") >/dev/null 2>&1 || true
    read -r e u sy r < <(tail -1 "$work/time")
    walls+=("$e")
    cpus+=("$(awk -v a="$u" -v b="$sy" 'BEGIN { printf "%.3f", a + b }')")
    ((r > rss)) && rss=$r
  done
  local mid=$(((runs + 1) / 2))
  echo "$(printf '%s\n' "${walls[@]}" | sort -g | sed -n "${mid}p") $(printf '%s\n' "${cpus[@]}" | sort -g | sed -n "${mid}p") $rss"
}

settings=(
  "off|LD_PRELOAD=$lib"
  "pageheap=full|LD_PRELOAD=$lib LFH_PAGEHEAP=full"
  "pageheap=full sample=1000|LD_PRELOAD=$lib LFH_PAGEHEAP=full LFH_PAGEHEAP_SAMPLE=1000"
  "debug=tail,free|LD_PRELOAD=$lib LFH_DEBUG=tail,free"
  "pageheap=normal|LD_PRELOAD=$lib LFH_PAGEHEAP=normal"
)
for efence in /usr/lib/libefence.so /usr/lib/x86_64-linux-gnu/libefence.so; do
  [ -e $efence ] && settings+=("electric-fence|LD_PRELOAD=$efence EF_ALLOW_MALLOC_0=1") && break
done
for duma in /usr/lib/libduma.so /usr/lib/x86_64-linux-gnu/libduma.so; do
  [ -e $duma ] && settings+=("duma|LD_PRELOAD=$duma DUMA_DISABLE_BANNER=1") && break
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
printf '%-8s %-26s %7s %6s %7s %6s %8s %6s\n' program setting wall_s ×wall cpu_s ×cpu rss_MB ×rss
for prog in python gxx git; do
  base=""
  for s in "${settings[@]}"; do
    name=${s%%|*}
    # shellcheck disable=SC2086
    read -r w c r <<<"$(measure $prog ${s#*|})"
    if [ -z "$base" ]; then base_w=$w base_c=$c base_r=$r base=1; fi
    printf '%-8s %-26s %7s %6s %7s %6s %8s %6s\n' "$prog" "$name" "$w" "$(ratio "$w" "$base_w")" "$c" \
      "$(ratio "$c" "$base_c")" "$(awk -v a="$r" 'BEGIN { printf "%.1f", a / 1024 }')" "$(ratio "$r" "$base_r")"
  done
done
