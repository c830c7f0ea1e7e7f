#!/usr/bin/env bash
# Install test dependencies (Debian, when root), build everything, run every test.
# This is README's test command; .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

DEPS=(cmake make g++ clang catch2 libbenchmark-dev pkg-config python3 git libxml2-utils librsvg2-bin
      libmimalloc-dev libjemalloc-dev libgoogle-perftools-dev valgrind
      sqlite3 redis-server redis-tools libpython3.11-testsuite)
missing=()
for p in "${DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "== missing packages (run as root to install): ${missing[*]}" >&2
  fi
fi

echo "== configure ($BUILD_DIR, Release)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DLFH_WERROR=ON -DLFH_BUILD_TESTS=ON -DLFH_BUILD_BENCH=ON -DLFH_BUILD_EXAMPLES=ON
echo "== build"
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "== test"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS" --timeout 600
cd - >/dev/null

# Sanitizers on lfh's own code (docs/RELIABILITY.md); LFH_CI_SANITIZERS=0 skips them.
root=$PWD
if [ "${LFH_CI_SANITIZERS:-1}" = 1 ]; then
  # UBSan: lfh (liblfh.so, liblfh.a, lfh_internal) built with -fsanitize=undefined, any finding
  # aborts the test that hit it; run by the tests that drive the most of it: the unit, API,
  # bad-free, private-heap, core-heap, stress and reliability tests and the fuzz corpus (the
  # programs run under LD_PRELOAD). LFH_CI_UBSAN_ALL=1: build and run everything (but the real
  # programs' suites and the libFuzzer run, which has UBSan of its own).
  echo "== UBSan build and tests ($BUILD_DIR-ubsan)"
  cmake -S . -B "$BUILD_DIR-ubsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLFH_SANITIZE=undefined -DLFH_WERROR=ON \
    -DLFH_BUILD_TESTS=ON -DLFH_BUILD_BENCH=OFF -DLFH_BUILD_EXAMPLES=OFF
  if [ "${LFH_CI_UBSAN_ALL:-0}" = 1 ]; then
    cmake --build "$BUILD_DIR-ubsan" -j "$JOBS"
    ubsan_tests=('-E' '^(suite_|fuzz_heap$)')
  else
    cmake --build "$BUILD_DIR-ubsan" -j "$JOBS" --target lfh_shared lfh lfh_internal
    ubsan_dirs=(unit api death heaps core stress reliability fuzz)
    for d in "${ubsan_dirs[@]}"; do   # every program of those test folders (Makefile generator)
      if [ -f "$BUILD_DIR-ubsan/tests/$d/Makefile" ]; then make -s -C "$BUILD_DIR-ubsan/tests/$d" -j "$JOBS"
      else cmake --build "$BUILD_DIR-ubsan" -j "$JOBS"; break; fi
    done
    ubsan_tests=('-R' '^(unit_|api_|death_|heaps_api:|core:|stress_|reliability_|fuzz_heap_corpus)')
  fi
  (cd "$BUILD_DIR-ubsan" && UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j "$JOBS" --timeout 900 "${ubsan_tests[@]}")
  # TSan: the multi-threaded tests of the lock-free code (the look-aside stack, the process heap's
  # magazines, lists and buckets handing blocks between threads, private heaps hammered by
  # threads, the core heap's arenas), linked with lfh_internal;
  # tests/sanitize/tsan.supp names the one race lfh has by design.
  echo "== TSan build and tests ($BUILD_DIR-tsan)"
  cmake -S . -B "$BUILD_DIR-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLFH_SANITIZE=thread -DLFH_WERROR=ON \
    -DLFH_BUILD_TESTS=ON -DLFH_BUILD_BENCH=OFF -DLFH_BUILD_EXAMPLES=OFF
  cmake --build "$BUILD_DIR-tsan" -j "$JOBS" --target unit_aba_stack unit_bucket heaps_api core
  (cd "$BUILD_DIR-tsan" && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=7 suppressions=$root/tests/sanitize/tsan.supp" \
     ctest --output-on-failure -j "$JOBS" --timeout 900 \
       -R '^(unit_aba_stack:|unit_bucket:threads|heaps_api:.*(threads|lfh_heap_lock)|core:.*(threads|concurrent))')
fi
