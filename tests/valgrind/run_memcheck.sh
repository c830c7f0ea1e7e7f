#!/usr/bin/env bash
# Valgrind's memcheck on a program preloading lfh (docs/RELIABILITY.md):
#   1. the program's correct work alone: no error, no leak — nothing reported inside lfh;
#   2. with three planted bugs: exactly those three reported, each in the program's function that
#      has it (read past the end, read after free, a definitely lost 100-byte block);
# and in both, memcheck saw lfh's blocks (its heap summary counts the blocks lfh announced; the
# planted errors' allocation stacks go through lfh). The command line is the one to use:
#   LD_PRELOAD=liblfh.so valgrind --soname-synonyms=somalloc=nouserintercepts ...
# (without that option memcheck replaces lfh's malloc with its own).
#   run_memcheck.sh <valgrind> <liblfh.so> <memcheck_program> <scratch dir>
# Exit: 0 as expected, 1 not, 77 valgrind missing.
set -u
vg=$1 lib=$2 prog=$3 work=$4
[ -x "$vg" ] || { echo "SKIP: valgrind not found"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
status=0
fail() { echo "FAILED: $*"; status=1; }

run() {   # run <name> <program args...>
  local name=$1; shift
  LD_PRELOAD="$lib" "$vg" --tool=memcheck --leak-check=full --soname-synonyms=somalloc=nouserintercepts \
    --log-file="$work/$name.log" "$prog" "$@" >"$work/$name.out" 2>&1
  echo "$name: program exit $?; $(grep -h 'ERROR SUMMARY' "$work/$name.log" | sed 's/^==[0-9]*== //')"
}

run clean
log=$work/clean.log
grep -q "ERROR SUMMARY: 0 errors from 0 contexts" "$log" || fail "errors reported on a correct program:"$'\n'"$(grep -A6 -E '^==[0-9]+== [A-Z][a-z]+.*(Invalid|uninitialised|Mismatched|overlap)' "$log" | head -40)"
grep -qE "All heap blocks were freed|definitely lost: 0 bytes" "$log" || fail "leaks reported on a correct program"
allocs=$(sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' "$log" | tr -d ,)
[ "${allocs:-0}" -gt 10000 ] || fail "memcheck saw ${allocs:-0} blocks: lfh's blocks were not announced (built without valgrind/memcheck.h?)"

run errors --errors
log=$work/errors.log
grep -q "ERROR SUMMARY: 3 errors from 3 contexts" "$log" || fail "expected exactly the 3 planted errors"
# Each error's first frame ("at"), and the function it names.
first_frames=$(grep -A1 -E '^==[0-9]+== (Invalid|Conditional|Use of|Mismatched|Source and|Syscall|[0-9,]+ bytes in)' "$log" | grep -E '^==[0-9]+==    (at|by) ' || true)
grep -q "bug_read_past_end" <<<"$(grep -A1 'Invalid read of size 1' "$log")" || fail "the read past the end was not reported in bug_read_past_end"
# ("recently re-allocated" when memcheck still remembers an older freed block at that address.)
grep -qE "0 bytes after a (recently re-allocated )?block of size 20 alloc'd" "$log" || fail "the read past the end was not described as such"
grep -q "bug_use_after_free" <<<"$(grep -A1 'Invalid read of size 1' "$log")" || fail "the read after free was not reported in bug_use_after_free"
# Memcheck names the freed block that held the address; lfh's memcheck-mode quarantine keeps the
# last 8192 freed blocks out of reuse, memcheck remembers 20 MB of them, so after more frees than
# that (this program's threads make many) the address may be named as an older freed block's
# (e.g. a 72-byte map node): a free'd block either way.
grep -A4 'Invalid read of size 1' "$log" | grep -A3 bug_use_after_free | grep -qE "bytes inside a block of size [0-9,]+ free'd" ||
  fail "the read after free was not described as such"
grep -q "definitely lost: 100 bytes in 1 blocks" "$log" || fail "the leak was not found"
grep -A10 "100 bytes in 1 blocks are definitely lost" "$log" | grep -q bug_leak || fail "the leak's stack does not name bug_leak"
inside=$(grep -E '^==[0-9]+==    at 0x[0-9A-F]+: ' <<<"$first_frames" | grep -E 'liblfh|lfh::' | grep -vE 'malloclike|freelike' || true)
[ -z "$inside" ] || fail "errors reported inside lfh:"$'\n'"$inside"
grep -q "lfh::" "$log" || fail "the blocks' stacks do not go through lfh: was lfh preloaded?"

[ $status -eq 0 ] && echo PASSED || { echo "logs: $work"; echo FAILED; }
exit $status
