#!/bin/sh
# Thin wrapper: the comparison lives in run_compare.py (python3, standard library only).
# Usage: bench/run_compare.sh [BUILD_DIR] [--rounds N] [--quick] [--smoke] ...   (see --help)
exec python3 "$(dirname "$0")/run_compare.py" "$@"
