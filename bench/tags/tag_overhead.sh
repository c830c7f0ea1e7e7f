#!/usr/bin/env bash
# bench/tags/tag_overhead.sh — what pool tags and leak reports cost: the malloc/free loop
# (tag_loop.c) and a real program (python3 on a small allocation-heavy script), on lfh with no
# option, LFH_TAGS=1 and LFH_LEAKS=1 (the report going to /dev/null). Best of REPS runs each;
# prints times and ratios to "off".
#
#   bench/tags/tag_overhead.sh [BUILD_DIR] [REPS]      (default: build, 5)
#   bench/tags/tag_overhead.sh --instructions [BUILD_DIR]
# --instructions counts instructions under callgrind instead (stable on a shared, noisy machine:
# the loop with 200 000 iterations, python3 on a 20 000-entry document).
set -euo pipefail
instructions=0
if [ "${1:-}" = "--instructions" ]; then
  instructions=1
  shift
fi
build=${1:-build}
reps=${2:-5}
lib=$(readlink -f "$build/liblfh.so")
loop=$(readlink -f "$build/bench/lfh_bench_tag_loop")
[ -r "$lib" ] && [ -x "$loop" ] || { echo "build lfh_shared and lfh_bench_tag_loop in $build first" >&2; exit 2; }
# The interpreter itself, not a wrapper script (pyenv's shim would time bash and pyenv too).
python=$(python3 -c 'import sys; print(sys.executable)')
py=$(mktemp /tmp/lfh_tag_bench.XXXXXX.py)
trap 'rm -f "$py"' EXIT
cat >"$py" <<'PY'
import json
d = {}
for i in range(200000):
    d[str(i)] = [i, str(i) * 3, {"k": i}]
s = json.dumps(d)
d2 = json.loads(s)
words = sorted(set(s.split(",")))[:1000]
print(len(s), len(d2), len(words))
PY

modes=("off:LFH_VERBOSE=0" "tags:LFH_TAGS=1" "leaks:LFH_LEAKS=/dev/null")

best() {   # best() CMD... : the smallest of $reps wall times, in ms (or the loop's own ns figure)
  local b=""
  for _ in $(seq "$reps"); do
    local t
    t=$("$@")
    if [ -z "$b" ] || awk -v a="$t" -v b="$b" 'BEGIN{exit !(a<b)}'; then b=$t; fi
  done
  echo "$b"
}
loop_pair() { env LD_PRELOAD="$lib" "$1" "$loop" 20000000 | awk '{print $2}'; }
loop_batch() { env LD_PRELOAD="$lib" "$1" "$loop" 20000000 | awk '{print $5}'; }
python_ms() {
  local s e
  s=$(date +%s%N)
  env LD_PRELOAD="$lib" "$1" "$python" "$py" >/dev/null
  e=$(date +%s%N)
  echo $(((e - s) / 1000000))
}

if [ "$instructions" = 1 ]; then
  sed -i 's/range(200000)/range(20000)/' "$py"
  refs() { env LD_PRELOAD="$lib" "$@" 2>&1 >/dev/null | awk '/refs:/ {gsub(",", "", $NF); print $NF}'; }
  declare -A L Y
  printf "%-6s %16s %16s\n" mode "loop instr" "python3 instr"
  for m in "${modes[@]}"; do
    name=${m%%:*} env_=${m#*:}
    L[$name]=$(refs "$env_" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$loop" 200000)
    Y[$name]=$(refs "$env_" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$python" "$py")
    printf "%-6s %16s %16s\n" "$name" "${L[$name]}" "${Y[$name]}"
  done
  for name in tags leaks; do
    awk -v n="$name" -v l="${L[$name]}" -v l0="${L[off]}" -v y="${Y[$name]}" -v y0="${Y[off]}" \
      'BEGIN{printf "%-6s vs off: loop %.2fx, python3 %.3fx (instructions)\n", n, l/l0, y/y0}'
  done
  exit 0
fi

printf "%-6s %14s %14s %12s\n" mode "pair ns" "batch ns" "python3 ms"
declare -A P B Y
for m in "${modes[@]}"; do
  name=${m%%:*} env_=${m#*:}
  P[$name]=$(best loop_pair "$env_")
  B[$name]=$(best loop_batch "$env_")
  Y[$name]=$(best python_ms "$env_")
  printf "%-6s %14s %14s %12s\n" "$name" "${P[$name]}" "${B[$name]}" "${Y[$name]}"
done
for name in tags leaks; do
  awk -v n="$name" -v p="${P[$name]}" -v p0="${P[off]}" -v b="${B[$name]}" -v b0="${B[off]}" -v y="${Y[$name]}" -v y0="${Y[off]}" \
    'BEGIN{printf "%-6s vs off: loop pair %.2fx, loop batch %.2fx, python3 %.2fx\n", n, p/p0, b/b0, y/y0}'
done
