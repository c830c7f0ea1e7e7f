#!/usr/bin/env bash
# README's first command: build lfh (Release) and run a real program on it under LD_PRELOAD,
# then print lfh's statistics summary. The program is python3 with PYTHONMALLOC=malloc, so every
# Python object allocation goes through malloc (and so through lfh) instead of pymalloc.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target lfh_shared >/dev/null
PY=$(command -v /usr/bin/python3 || command -v python3)
echo "== $PY examples/preload/workload.py under LD_PRELOAD=$BUILD_DIR/liblfh.so"
PYTHONMALLOC=malloc LFH_STATS=1 LD_PRELOAD="$PWD/$BUILD_DIR/liblfh.so" "$PY" examples/preload/workload.py
