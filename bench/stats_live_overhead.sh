#!/usr/bin/env bash
# stats_live_overhead.sh — what LFH_STATS_LIVE=1 (the /dev/shm/lfh.<pid> segment rewritten by the
# balance tick once a second) costs: CPU time (user+sys, medians of RUNS, alternating off/on so
# machine noise hits both alike) of
#   loop    — a malloc/free loop: 64-byte pairs plus a churning pool of 4000 blocks of 16 B–64 KB
#             (slow paths, so the balance thread starts), ~3 s (~3 live updates);
#   python  — python3 building, serialising and parsing a 400000-entry dict, 4 threads churning.
# Prints the ratio on/off per job (target ≤ 1.05).
#
#   bench/stats_live_overhead.sh [BUILD_DIR] [RUNS] [JOBS]    (defaults: build, 7, "loop python")
set -eu
build=${1:-build}
runs=${2:-7}
jobs=${3:-loop python}
lib=$(realpath "$build/liblfh.so")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/loop.c" <<'C'
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  long rounds = argc > 1 ? atol(argv[1]) : 3000;
  static void *pool[4000];
  uint64_t x = 88172645463325252ull;
  for (long r = 0; r < rounds; ++r) {
    for (int i = 0; i < 10000; ++i) {   /* the fast path */
      void *p = malloc(64);
      *(volatile char *)p = 1;
      free(p);
    }
    for (int i = 0; i < 400; ++i) {     /* churn: every tier, slow paths */
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      int k = (int)(x % 4000);
      free(pool[k]);
      size_t n = 16u << (x >> 60) % 13;   /* 16 B .. 64 KB */
      pool[k] = malloc(n);
      memset(pool[k], 0, n < 64 ? n : 64);
    }
  }
  for (int k = 0; k < 4000; ++k) free(pool[k]);
  return 0;
}
C
cc -O2 -o "$work/loop" "$work/loop.c"

cat > "$work/job.py" <<'PY'
import json, threading
n = 400000
d = {str(i): [i, str(i) * 3, {"k": i}] for i in range(n)}
s = json.dumps(d)
assert len(json.loads(s)) == n
def work(k):
    for _ in range(40):
        x = [bytearray((i * 37 + k) % 5000) for i in range(5000)]
        del x[::2]
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
PY

cpu() {   # cpu ENV... -- CMD...: user+sys seconds of one run
  local env=()
  while [ "$1" != "--" ]; do env+=("$1"); shift; done
  shift
  /usr/bin/time -o "$work/t" -f "%U %S" env "${env[@]}" "$@" >/dev/null 2>&1
  awk '{ printf "%.3f\n", $1 + $2 }' "$work/t"
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

printf '%-8s %9s %9s %7s\n' job off_cpu_s on_cpu_s ratio
for job in $jobs; do
  case $job in
    loop) cmd=("$work/loop" 40000) ;;
    python) cmd=(python3 "$work/job.py") ;;
  esac
  : >"$work/off"
  : >"$work/on"
  for _ in $(seq 1 "$runs"); do
    cpu LD_PRELOAD="$lib" -- "${cmd[@]}" >>"$work/off"
    cpu LD_PRELOAD="$lib" LFH_STATS_LIVE=1 -- "${cmd[@]}" >>"$work/on"
  done
  off=$(median <"$work/off")
  on=$(median <"$work/on")
  printf '%-8s %9s %9s %7s\n' "$job" "$off" "$on" "$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.3f", a / b }')"
done
