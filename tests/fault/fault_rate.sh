#!/usr/bin/env bash
# Determinism and rate of fault injection (tests/fault/CMakeLists.txt: fault_rate, fault_threads).
#   fault_rate.sh <liblfh.so> <fault_program> <lfh tool> <N>        rate: N allocations
#   fault_rate.sh <liblfh.so> <fault_program> <lfh tool> threads    4 threads × 200 000
# Exit 0 when every check holds.
set -u
lib=$1 prog=$2 tool=$3 what=$4
status=0
fail() { echo "FAILED: $*"; status=1; }
if [ "$what" = threads ]; then args=(threads 4 200000); else args=(rate "$what"); fi

# run <label> <env assignments...>: the program's result line (and its whole output on failure).
run() {
  local label=$1
  shift
  local out
  out=$(env LD_PRELOAD="$lib" "$@" "$prog" "${args[@]}" 2>&1)
  local rc=$?
  if [ $rc -ne 0 ] || ! grep -q '^PASSED' <<<"$out" || grep -q '^lfh: ' <<<"$out"; then
    fail "$label (exit $rc):"$'\n'"$out"
  fi
  grep '^PASSED' <<<"$out" | tail -1
}
digest() { sed -n 's/.*digests\{0,1\} \(.*\)$/\1/p' <<<"$1"; }

a=$(run "seed 42" LFH_FAULT_RATE=0.05 LFH_FAULT_SEED=42)
b=$(run "seed 42 again" LFH_FAULT_RATE=0.05 LFH_FAULT_SEED=42)
c=$(run "seed 43" LFH_FAULT_RATE=0.05 LFH_FAULT_SEED=43)
p=$(run "5% seed 42" LFH_FAULT_RATE=5% LFH_FAULT_SEED=42)
echo "seed 42:       $a"
echo "seed 42 again: $b"
echo "seed 43:       $c"
echo "5%, seed 42:   $p"
[ -n "$(digest "$a")" ] || fail "no digest in the output"
[ "$(digest "$a")" = "$(digest "$b")" ] || fail "the same seed failed other calls"
[ "$(digest "$a")" != "$(digest "$c")" ] || fail "another seed failed the same calls"
[ "$(digest "$a")" = "$(digest "$p")" ] || fail "5% and 0.05 differ"

if [ "$what" != threads ]; then
  # 5 % ± 0.5 %: failures·1000 between 45·N and 55·N.
  failures=$(sed -n 's/^PASSED rate: \([0-9]*\) of.*/\1/p' <<<"$a")
  [ -n "$failures" ] && [ $((failures * 1000)) -ge $((45 * what)) ] && [ $((failures * 1000)) -le $((55 * what)) ] ||
    fail "${failures:-?} failures in $what allocations: not 5 % ± 0.5 %"
  # lfh run sets the same variables.
  t=$("$tool" run --fault-rate=0.05 --fault-seed=42 -- "$prog" "${args[@]}" 2>&1)
  echo "lfh run:       $(grep '^PASSED' <<<"$t")"
  [ "$(digest "$t")" = "$(digest "$a")" ] || fail "lfh run --fault-rate=0.05 --fault-seed=42 differs:"$'\n'"$t"
  # LFH_VERBOSE prints the seed a run without LFH_FAULT_SEED drew; giving it back replays the run.
  v=$(env LD_PRELOAD="$lib" LFH_FAULT_RATE=0.05 LFH_VERBOSE=1 "$prog" "${args[@]}" 2>&1)
  seed=$(sed -n 's/^lfh: fault injection: rate=0.05 seed=\([0-9]*\).*/\1/p' <<<"$v")
  [ -n "$seed" ] || fail "LFH_VERBOSE did not print the seed:"$'\n'"$v"
  r=$(run "replay of seed $seed" LFH_FAULT_RATE=0.05 LFH_FAULT_SEED="$seed")
  [ "$(digest "$r")" = "$(digest "$(grep '^PASSED' <<<"$v")")" ] || fail "replaying seed $seed failed other calls"
  # The statistics table shows the count.
  s=$(env LD_PRELOAD="$lib" LFH_FAULT_RATE=0.05 LFH_FAULT_SEED=42 LFH_STATS=1 "$prog" rate 10000 2>&1)
  grep -qE '^lfh: +faults injected +[1-9]' <<<"$s" || fail "LFH_STATS does not show the faults injected:"$'\n'"$s"
fi
[ $status -eq 0 ] && echo PASSED || echo FAILED
exit $status
