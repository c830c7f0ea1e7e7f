#!/bin/sh
# Instructions per malloc+free pair on the fast path, per allocator, counted by callgrind.
#
# Builds a tiny C program (into a temporary folder) that does one warm-up malloc/free and then
# N malloc(SIZE)/free pairs, runs it under `valgrind --tool=callgrind` with N pairs and with 0
# pairs for each allocator (lfh through LD_PRELOAD, glibc, mimalloc, jemalloc, tcmalloc), and
# prints (Ir(N) - Ir(0)) / N: the instructions one pair costs, start-up and exit excluded.
# Instruction counts are repeatable on a noisy machine, unlike times.
#
# Usage: bench/callgrind_fastpath.sh [BUILD_DIR] [--pairs N] [--size BYTES]
#   BUILD_DIR: where liblfh.so is (default build/ or build-bench/). Builds nothing of lfh's.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=""
pairs=1000000
size=64
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) build=$1; shift ;;
  esac
done
if [ -z "$build" ]; then
  for d in "$root/build" "$root/build-bench"; do
    if [ -f "$d/liblfh.so" ]; then build=$d; break; fi
  done
fi
lfh_so="$(cd "${build:-$root/build}" 2>/dev/null && pwd)/liblfh.so" || lfh_so="${build:-$root/build}/liblfh.so"
[ -f "$lfh_so" ] || { echo "callgrind_fastpath: $lfh_so not found; build lfh first" >&2; exit 1; }
command -v valgrind >/dev/null 2>&1 || { echo "callgrind_fastpath: valgrind not installed" >&2; exit 1; }
cc=${CC:-cc}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

cat > "$tmp/pairs.c" <<'CEOF'
#include <stdlib.h>
/* The pointer escapes through a volatile sink so no malloc/free pair can be optimised away. */
void *volatile sink;
int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 0;
  size_t size = argc > 2 ? (size_t)atol(argv[2]) : 64;
  /* warm-up: the allocator's one-time set-up is paid in both the N and the 0 runs */
  sink = malloc(size);
  free(sink);
  for (long i = 0; i < n; ++i) {
    void *p = malloc(size);
    sink = p;
    free(p);
  }
  return 0;
}
CEOF
"$cc" -O2 -Wall -Wextra -fno-builtin-malloc -fno-builtin-free -o "$tmp/pairs" "$tmp/pairs.c"

find_lib() {  # first existing library among the names, in the usual folders
  for n in "$@"; do
    for d in /usr/lib/*-linux-gnu /lib/*-linux-gnu /usr/lib64 /usr/local/lib /usr/lib; do
      if [ -f "$d/$n" ]; then echo "$d/$n"; return 0; fi
    done
  done
  return 1
}

# One callgrind run: $1 = preload ("" for none), $2 = pairs.
# Prints three numbers: total Ir, Ir spent in main itself (the loop, not its callees), Ir spent
# finding the CPU number through sched_getcpu (inclusive) — see the note printed below.
measure() {
  out="$tmp/cg.out"
  rm -f "$out"
  if [ -n "$1" ]; then
    LD_PRELOAD="$1" valgrind --tool=callgrind --callgrind-out-file="$out" "$tmp/pairs" "$2" "$size" \
      >"$tmp/vg.log" 2>&1 || { cat "$tmp/vg.log" >&2; return 1; }
  else
    env -u LD_PRELOAD valgrind --tool=callgrind --callgrind-out-file="$out" "$tmp/pairs" "$2" "$size" \
      >"$tmp/vg.log" 2>&1 || { cat "$tmp/vg.log" >&2; return 1; }
  fi
  # "summary: <Ir>" (or "totals:") line of the callgrind output file
  total=$(sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$out" | head -n 1)
  loop=$(callgrind_annotate --threshold=100 "$out" 2>/dev/null |
    awk -v prog="[$tmp/pairs]" 'index($0, ":main " prog) { gsub(",", "", $1); print $1; exit }')
  cpu=$(callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null |
    awk '/current_cpu_slow|sched_getcpu/ { gsub(",", "", $1); if ($1 + 0 > m) m = $1 + 0 } END { print m + 0 }')
  echo "${total:-0} ${loop:-0} ${cpu:-0}"
}

printf 'callgrind: instructions (Ir) per malloc(%s)+free pair, %s pairs minus a 0-pair run\n\n' "$size" "$pairs"
printf '| %-9s | %9s | %14s | %12s | %s\n' allocator "Ir/pair" "in malloc+free" "sched_getcpu" "library"
printf '| %-9s | %9s | %14s | %12s | %s\n' --------- --------- -------------- ------------ -------
row() {  # name, preload path ("" = glibc)
  if ! base=$(measure "$2" 0) || ! full=$(measure "$2" "$pairs"); then
    printf '| %-9s | %9s | %14s | %12s | %s\n' "$1" FAILED "" "" "${2:-libc}"
    status=1
    return
  fi
  # shellcheck disable=SC2086
  set -- "$1" "$2" $base $full
  awk -v name="$1" -v lib="${2:-libc.so.6 (no preload)}" -v n="$pairs" \
      -v t0="$3" -v l0="$4" -v c0="$5" -v t1="$6" -v l1="$7" -v c1="$8" 'BEGIN {
    per = (t1 - t0) / n; loop = (l1 - l0) / n; cpu = (c1 - c0) / n
    printf "| %-9s | %9.1f | %14.1f | %12s | %s\n", name, per, per - loop, (cpu > 0.05 ? sprintf("%.1f", cpu) : "-"), lib
  }'
}
status=0
row lfh "$lfh_so"
row glibc ""
for spec in "mimalloc libmimalloc.so.2 libmimalloc.so" "jemalloc libjemalloc.so.2 libjemalloc.so" \
            "tcmalloc libtcmalloc_minimal.so.4 libtcmalloc.so.4"; do
  # shellcheck disable=SC2086
  set -- $spec
  name=$1; shift
  if lib=$(find_lib "$@"); then
    row "$name" "$lib"
  else
    printf '| %-9s | %9s | %14s | %12s | %s\n' "$name" skipped "" "" "not installed"
  fi
done
cat <<NOTE

Ir/pair: everything the pair costs, the test loop included. in malloc+free: minus the loop in
main itself (about 10 instructions), i.e. the allocator's own instructions plus the PLT jumps.
sched_getcpu: part of "in malloc+free" spent in sched_getcpu. Valgrind does not support rseq,
so an allocator that reads its CPU number from glibc's rseq area natively (lfh) falls back to
sched_getcpu() under valgrind; natively that part costs about 2 instructions per lookup.
NOTE
exit $status
