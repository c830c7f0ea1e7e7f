#!/usr/bin/env bash
# Real programs whose allocations fail on purpose (tests/fault/CMakeLists.txt: fault_real_*).
# The program may fail — MemoryError, "out of memory" — but lfh must not crash or corrupt: no
# death by a signal, no `lfh:` line, the failures counted (LFH_STATS), and the program's data
# intact afterwards.
#   python           CPython's workload (fault_workload.py) with its loop tagged "Pyth" through
#                    lfh's API and LFH_FAULT_TAGS=Pyth: start-up and shutdown never fail (an
#                    interpreter aborts on purpose when its start-up runs out of memory). Once with
#                    pymalloc, once with PYTHONMALLOC=malloc (every object allocation is a malloc):
#                    each iteration that fails is caught; exit 0 and lfh_validate() clean.
#   python_pageheap  the same under LFH_PAGEHEAP=full: no use of a failed allocation's memory.
#   sqlite3          the sqlite3 shell on autocommit statements into table a, whose triggers
#                    mirror every insert, update and delete into table b, with
#                    LFH_FAULT_CALLERS=libsqlite3.so (SQLite's own allocations, whose failures it
#                    turns into SQLITE_NOMEM) for three seeds and once for every caller (the shell
#                    exits 1 on its own out-of-memory): each statement is atomic, so afterwards,
#                    read by an sqlite3 without lfh, the integrity check is "ok" and a = b. The
#                    same seed twice gives the same failures and the same database (sqlite3 is single-threaded).
#   sqlite3_pageheap one seed of the above under LFH_PAGEHEAP=full.
#   fault_real.sh <liblfh.so> <python|python_pageheap|sqlite3|sqlite3_pageheap> <scratch dir> [seeds]
# `seeds` (default: the CI ones) replaces the seeds of the main runs, for soak runs.
# Exit 0 as expected, 1 not, 77 the program is missing.
set -u
lib=$1 what=$2 work=$3 seeds=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
status=0
fail() { echo "FAILED: $*"; status=1; }

# judge <label> <exit status> <output file> <stats file>: what every run must show.
judge() {
  local label=$1 rc=$2 out=$3 stats=$4
  [ "$rc" -lt 128 ] || fail "$label: died of signal $((rc - 128)):"$'\n'"$(tail -5 "$out")"
  grep -q '^lfh: ' "$out" && fail "$label: lfh reported an error:"$'\n'"$(grep '^lfh: ' "$out" | head -5)"
  local n
  n=$(sed -n 's/^lfh: *faults injected *\([0-9]*\).*/\1/p' "$stats" 2>/dev/null)
  [ "${n:-0}" -gt 0 ] || fail "$label: no failure injected (statistics: $stats)"
  echo "${n:-0}"
}

case $what in
python | python_pageheap)
  py=/usr/bin/python3
  [ -x $py ] || py=$(command -v python3) || { echo "SKIP: no python3"; exit 77; }
  extra=() iterations=1500
  [ "$what" = python_pageheap ] && extra=(LFH_PAGEHEAP=full LFH_PAGEHEAP_FREE_DELAY=4M) iterations=100
  for seed in ${seeds:-7}; do
  for alloc in pymalloc malloc; do
    rate=0.001
    [ $alloc = malloc ] && rate=0.0001   # ~30 times more calls reach malloc
    label="python ($alloc, rate $rate, seed $seed)"
    env LD_PRELOAD="$lib" LFH_STATS="$work/stats-$alloc" PYTHONMALLOC=$alloc LFH_FAULT_RATE=$rate LFH_FAULT_SEED=$seed \
      LFH_FAULT_TAGS=Pyth "${extra[@]}" $py "$here/fault_workload.py" $iterations >"$work/out-$alloc" 2>&1
    rc=$?
    n=$(judge "$label" $rc "$work/out-$alloc" "$work/stats-$alloc")
    line=$(grep '^done ' "$work/out-$alloc")
    echo "$label: exit $rc, $n failures injected: $line"
    [ $rc -eq 0 ] || fail "$label: exit $rc:"$'\n'"$(tail -5 "$work/out-$alloc")"
    grep -q 'MemoryError [1-9]' <<<"$line" || fail "$label: no MemoryError raised"
    grep -q 'validate 1$' <<<"$line" || fail "$label: lfh_validate() not clean"
  done
  done
  ;;
sqlite3 | sqlite3_pageheap)
  command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not found"; exit 77; }
  units=300 rows=50
  [ "$what" = sqlite3_pageheap ] && units=250 rows=40
  {
    echo "PRAGMA journal_mode = TRUNCATE;"
    echo "CREATE TABLE a(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);"
    echo "CREATE TABLE b(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);"
    echo "CREATE INDEX a_v ON a(v);"
    echo "CREATE INDEX b_k ON b(k, v);"
    echo "CREATE TRIGGER a_ins AFTER INSERT ON a BEGIN INSERT INTO b VALUES (new.id, new.k, new.v); END;"
    echo "CREATE TRIGGER a_upd AFTER UPDATE ON a BEGIN UPDATE b SET k = new.k, v = new.v WHERE id = new.id; END;"
    echo "CREATE TRIGGER a_del AFTER DELETE ON a BEGIN DELETE FROM b WHERE id = old.id; END;"
  } >"$work/schema.sql"
  {
    echo "PRAGMA synchronous = OFF;"
    echo "PRAGMA cache_size = -4000;"
    for k in $(seq 0 $((units - 1))); do
      echo "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $((rows - 1))) INSERT INTO a SELECT $k * $rows + i, $k, printf('%d-%.*c', $k, (i * 37 + $k) % 400 + 1, 'x') FROM n;"
      [ $((k % 3)) = 0 ] && echo "UPDATE a SET v = v || v, k = k + 1 WHERE id % 13 = $((k % 13)) AND id < $k * $rows;"
      [ $((k % 4)) = 1 ] && echo "DELETE FROM a WHERE id % 17 = $((k % 17)) AND id < $k * $rows;"
      [ $((k % 50)) = 7 ] && echo "SELECT 'q', count(*), sum(length(a.v)) FROM a JOIN b USING(id) WHERE a.v = b.v;"
    done
  } >"$work/work.sql"
  check_sql="PRAGMA integrity_check; SELECT count(*) FROM a; SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM b) UNION ALL SELECT count(*) FROM (SELECT * FROM b EXCEPT SELECT * FROM a) UNION ALL SELECT (SELECT count(*) FROM a) - (SELECT count(*) FROM b);"
  # run <label> <tag> <env...>: the workload on a fresh database (schema made without lfh).
  run() {
    local label=$1 tag=$2
    shift 2
    sqlite3 "$work/$tag.db" <"$work/schema.sql" >/dev/null || { fail "$label: schema"; return; }
    env LD_PRELOAD="$lib" LFH_STATS="$work/stats-$tag" "$@" sqlite3 "$work/$tag.db" <"$work/work.sql" >"$work/out-$tag" 2>&1
    local rc=$?
    local n
    n=$(judge "$label" $rc "$work/out-$tag" "$work/stats-$tag")
    [ $rc -le 1 ] || fail "$label: exit $rc"
    grep -q 'out of memory' "$work/out-$tag" || fail "$label: sqlite3 never reported 'out of memory'"
    # Read back by sqlite3 on the system allocator.
    local check
    check=$(sqlite3 "$work/$tag.db" "$check_sql" 2>&1 | tr '\n' ' ')
    echo "$label: exit $rc, $n failures injected, $(grep -c 'out of memory' "$work/out-$tag") 'out of memory' errors; afterwards: $check"
    [ "$check" = "ok $(sqlite3 "$work/$tag.db" 'SELECT count(*) FROM a') 0 0 0 " ] ||
      fail "$label: the database is not intact (expected: ok, rows, 0 0 0)"
    echo "$n $check" >"$work/result-$tag"
  }
  if [ "$what" = sqlite3 ]; then
    for seed in ${seeds:-1 2 3}; do
      run "sqlite3 (LFH_FAULT_CALLERS=libsqlite3.so, rate 0.001, seed $seed)" s$seed \
        LFH_FAULT_RATE=0.001 LFH_FAULT_SEED=$seed LFH_FAULT_CALLERS=libsqlite3.so
    done
    list=${seeds:-1 2 3} again=2
    [ -n "$seeds" ] && again=${list%% *}
    run "sqlite3 (same, seed $again again)" again LFH_FAULT_RATE=0.001 LFH_FAULT_SEED=$again LFH_FAULT_CALLERS=libsqlite3.so
    cmp -s "$work/result-s$again" "$work/result-again" ||
      fail "seed $again twice: other failures or another database ($(cat "$work/result-s$again") / $(cat "$work/result-again"))"
    run "sqlite3 (every caller, rate 0.0003, seed 4)" all LFH_FAULT_RATE=0.0003 LFH_FAULT_SEED=4
  else
    run "sqlite3 (LFH_PAGEHEAP=full, LFH_FAULT_CALLERS=libsqlite3.so, rate 0.001, seed 5)" ph \
      LFH_PAGEHEAP=full LFH_PAGEHEAP_FREE_DELAY=4M LFH_FAULT_RATE=0.001 LFH_FAULT_SEED=5 LFH_FAULT_CALLERS=libsqlite3.so
  fi
  ;;
*)
  echo "unknown: $what"
  exit 2
  ;;
esac
[ $status -eq 0 ] && echo PASSED || echo FAILED
exit $status
