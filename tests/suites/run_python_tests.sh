#!/usr/bin/env bash
# CPython's own regression tests under LD_PRELOAD=liblfh.so: the modules that allocate the most
# (object model, dict, list, set, str, bytes, json, re, threading, gc). Every test must pass, and
# every interpreter process (regrtest's workers included) must have run on lfh: LFH_STATS makes
# each write a statistics file.
#   run_python_tests.sh <liblfh.so> <scratch dir> [--ignore=TEST_NAME...] [extra environment assignments...]
# --ignore: a test method regrtest skips (its -i option); see CMakeLists.txt for why one is.
# Exit: 0 all passed, 1 not, 77 no interpreter with its test suite (Debian: libpython3.11-testsuite).
set -u
lib=$1 work=$2
shift 2
ignores=()
while [ $# -gt 0 ] && [ "${1#--ignore=}" != "$1" ]; do ignores+=(-i "${1#--ignore=}"); shift; done
tests="test_descr test_class test_dict test_list test_set test_unicode test_bytes test_json test_re test_threading test_gc"
py=
for cand in /usr/bin/python3 "$(command -v python3 2>/dev/null)"; do
  [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import test.test_dict, test.test_gc, test.test_json' 2>/dev/null && { py=$cand; break; }
done
[ -n "$py" ] || { echo "SKIP: no python3 with its test suite (install libpython3.11-testsuite)"; exit 77; }
rm -rf "$work" && mkdir -p "$work/stats" "$work/tmp"
echo "$py ($("$py" -V 2>&1)) -m test $tests"
# -j2: regrtest's worker processes (each a fresh interpreter on lfh); TMPDIR inside the scratch dir.
env LD_PRELOAD="$lib" LFH_STATS="$work/stats/%p" TMPDIR="$work/tmp" "$@" \
  "$py" -m test -j2 --timeout 900 "${ignores[@]}" $tests >"$work/out.txt" 2>&1
status=$?
tail -12 "$work/out.txt"
processes=$(ls "$work/stats" | wc -l)
echo "lfh ran in $processes interpreter processes"
grep -q '^lfh: ' "$work/out.txt" && { echo "lfh reported an error:"; grep '^lfh: ' "$work/out.txt" | head; status=1; }
[ "$processes" -gt 1 ] || { echo "no process wrote lfh statistics: was liblfh.so preloaded?"; status=1; }
grep -q "Tests result: SUCCESS" "$work/out.txt" || status=1
[ $status -eq 0 ] && echo PASSED || echo FAILED
exit $status
