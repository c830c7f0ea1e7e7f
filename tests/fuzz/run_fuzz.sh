#!/usr/bin/env bash
# Run the libFuzzer harness for a bounded number of executions (the CTest test), from the seed
# corpus, with new inputs going to a scratch corpus (never into the source tree).
#   run_fuzz.sh <fuzz_heap binary> <seed corpus dir> <scratch dir> <runs>
# Exit: libFuzzer's (0: no failure found), 77 when the binary was not built (no clang).
set -u
fuzzer=$1 seeds=$2 scratch=$3 runs=$4
[ -x "$fuzzer" ] || { echo "SKIP: $fuzzer not built (clang with -fsanitize=fuzzer not found)"; exit 77; }
rm -rf "$scratch" && mkdir -p "$scratch/corpus" "$scratch/artifacts"
"$fuzzer" -runs="$runs" -seed=1 -error_exitcode=1 -max_len=2048 -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
  -artifact_prefix="$scratch/artifacts/" "$scratch/corpus" "$seeds" 2>&1 | tail -25
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && echo PASSED || echo "FAILED (libFuzzer exit $status; input saved under $scratch/artifacts)"
exit "$status"
