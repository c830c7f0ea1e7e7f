#!/usr/bin/env bash
# The sqlite3 shell runs sqlite_workload.sql on a file database under LD_PRELOAD=liblfh.so; its
# output must be exactly sqlite_expected.txt (and the same as on the system allocator), the
# integrity check "ok", and lfh must have been in the process (LFH_STATS).
#   run_sqlite.sh <liblfh.so> <scratch dir> [extra environment assignments...]
# Exit: 0 as expected, 1 not, 77 no sqlite3.
set -u
lib=$1 work=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not found"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
sqlite3 "$work/sys.db" <"$here/sqlite_workload.sql" >"$work/sys.txt" 2>&1
env LD_PRELOAD="$lib" LFH_STATS="$work/lfh-stats.txt" "$@" sqlite3 "$work/lfh.db" <"$here/sqlite_workload.sql" >"$work/lfh.txt" 2>&1
rc=$?
status=0
[ $rc -eq 0 ] || { echo "sqlite3 exited with $rc under lfh"; status=1; }
cmp -s "$work/lfh.txt" "$here/sqlite_expected.txt" || { echo "output differs from sqlite_expected.txt:"; diff "$here/sqlite_expected.txt" "$work/lfh.txt" | head -20; status=1; }
cmp -s "$work/lfh.txt" "$work/sys.txt" || { echo "output differs from the system allocator's"; status=1; }
[ -s "$work/lfh-stats.txt" ] || { echo "no lfh statistics: was liblfh.so preloaded?"; status=1; }
echo "sqlite3 $(sqlite3 --version | cut -d' ' -f1): $(wc -l <"$work/lfh.txt") result lines, integrity: $(tail -1 "$work/lfh.txt")"
[ $status -eq 0 ] && echo PASSED || echo FAILED
exit $status
