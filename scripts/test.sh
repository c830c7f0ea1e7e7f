#!/usr/bin/env bash
# Install test dependencies (Debian, when root), build everything, run every test.
# This is README's test command; .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

DEPS=(cmake make g++ clang catch2 libbenchmark-dev pkg-config python3 git libxml2-utils
      libmimalloc-dev libjemalloc-dev libgoogle-perftools-dev valgrind)
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
