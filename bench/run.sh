#!/bin/sh
# bench/run.sh — the whole allocator comparison in one command.
#
#   bench/run.sh [--quick] [--rounds N] [--only NAMES] [--build-dir DIR] [--threads 1,2,4]
#                [--no-micro] [--no-install] [--no-build] [other run_bench.py options]
#
# 1. Installs what is missing (when run as root, with apt-get): the comparison allocators
#    (libmimalloc-dev, libjemalloc-dev, libgoogle-perftools-dev), the real programs (redis-server,
#    redis-tools, sqlite3), and the build tools (cmake, g++, python3, libbenchmark-dev). Not root:
#    says what is missing; a missing allocator or program is skipped with a note in the report.
# 2. Builds lfh and the benchmarks in Release: cmake -B build -DCMAKE_BUILD_TYPE=Release, targets
#    lfh_shared, bench-workloads and (when Google Benchmark is there) lfh_bench_micro.
# 3. Runs the micro-benchmarks (bench/run_compare.py -> results/micro.md), unless --no-micro or
#    --only, then the workloads and real programs (bench/run_bench.py -> results/REPORT.md,
#    results/time.svg, results/rss.svg), every benchmark under every allocator in interleaved
#    order, N rounds (default 3).
#
# --quick: a fast pass (small sizes, 1 round): writes REPORT-quick.md, micro-quick.md and
# *-quick.svg, never the real report. --only NAMES: only those benchmarks (comma-separated names
# or prefixes: larson, larson@2, redis, ...), no micro-benchmarks.
# The full run takes about 15 minutes on 2 cores. Exit status: 0, or 1 if any run failed.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD="$ROOT/build"
QUICK=0
ROUNDS=""
ONLY=""
MICRO=1
INSTALL=1
BUILD_IT=1
PASS=""

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --rounds) ROUNDS="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    --build-dir) BUILD="$2"; shift ;;
    --no-micro) MICRO=0 ;;
    --no-install) INSTALL=0 ;;
    --no-build) BUILD_IT=0 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) PASS="$PASS $1" ;;
  esac
  shift
done
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac

# ---- 1. install what is missing -------------------------------------------------------------
have_lib() {
  for d in /usr/lib/*-linux-gnu /lib/*-linux-gnu /usr/lib64 /usr/local/lib /usr/lib; do
    [ -e "$d/$1" ] && return 0
  done
  return 1
}
missing=""
have_lib libmimalloc.so.2 || missing="$missing libmimalloc-dev"
have_lib libjemalloc.so.2 || missing="$missing libjemalloc-dev"
have_lib libtcmalloc_minimal.so.4 || missing="$missing libgoogle-perftools-dev"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v redis-benchmark >/dev/null 2>&1 || missing="$missing redis-tools"
command -v sqlite3 >/dev/null 2>&1 || missing="$missing sqlite3"
command -v cmake >/dev/null 2>&1 || missing="$missing cmake"
command -v g++ >/dev/null 2>&1 || missing="$missing g++"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
[ -e /usr/include/benchmark/benchmark.h ] || missing="$missing libbenchmark-dev"
if [ -n "$missing" ]; then
  if [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "run.sh: installing:$missing"
    apt-get update
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
    # Debian starts the redis service on install where it can; we start our own on a free port.
    if command -v systemctl >/dev/null 2>&1; then systemctl stop redis-server >/dev/null 2>&1 || true; fi
  else
    echo "run.sh: missing (skipped in the report):$missing — install with: apt-get install$missing"
  fi
fi
command -v python3 >/dev/null 2>&1 || { echo "run.sh: python3 is needed" >&2; exit 2; }

# ---- 2. build (Release) -----------------------------------------------------------------------
if [ "$BUILD_IT" = 1 ]; then
  cmake -B "$BUILD" -S "$ROOT" -DCMAKE_BUILD_TYPE=Release
  targets="lfh_shared bench-workloads"
  # lfh_bench_micro exists only when Google Benchmark was found.
  if cmake --build "$BUILD" --target help 2>/dev/null | grep -q 'lfh_bench_micro'; then
    targets="$targets lfh_bench_micro"
  fi
  # shellcheck disable=SC2086
  cmake --build "$BUILD" -j"$(nproc)" --target $targets
fi

status=0
# ---- 3a. micro-benchmarks -----------------------------------------------------------------------
if [ "$MICRO" = 1 ] && [ -z "$ONLY" ] && [ -x "$BUILD/bench/lfh_bench_micro" ]; then
  if [ "$QUICK" = 1 ]; then
    python3 "$HERE/run_compare.py" "$BUILD" --quick --rounds "${ROUNDS:-1}" --out "$HERE/results/micro-quick.md" || status=1
  else
    python3 "$HERE/run_compare.py" "$BUILD" --rounds "${ROUNDS:-3}" || status=1
  fi
elif [ "$MICRO" = 1 ] && [ -z "$ONLY" ]; then
  echo "run.sh: $BUILD/bench/lfh_bench_micro not built (Google Benchmark missing?): micro-benchmarks skipped"
fi

# ---- 3b. workloads and real programs --------------------------------------------------------------
set -- --build-dir "$BUILD"
[ "$QUICK" = 1 ] && set -- "$@" --quick
[ -n "$ROUNDS" ] && set -- "$@" --rounds "$ROUNDS"
[ -n "$ONLY" ] && set -- "$@" --only "$ONLY"
# shellcheck disable=SC2086
python3 "$HERE/run_bench.py" "$@" $PASS || status=1
exit $status
