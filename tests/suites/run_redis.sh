#!/usr/bin/env bash
# redis-server under LD_PRELOAD=liblfh.so (its malloc, realloc and free become lfh's; Debian's
# build keeps jemalloc for the rest), driven by redis-benchmark on 127.0.0.1 for a bounded number
# of requests of every command kind and value sizes from 3 B to 64 KB; then redis-cli checks that
# the data set answers correctly, and the server shuts down cleanly. Passes when the benchmark
# reports no error, every check answers as expected, the server exits 0 with no "lfh:" line in
# its log, and lfh ran in it (LFH_STATS).
#   run_redis.sh <liblfh.so> <scratch dir> <requests> [extra environment assignments...]
# Exit: 0 as expected, 1 not, 77 redis-server / redis-benchmark / redis-cli missing.
set -u
lib=$1 work=$2 requests=$3
shift 3
for p in redis-server redis-benchmark redis-cli; do
  command -v $p >/dev/null || { echo "SKIP: $p not found"; exit 77; }
done
rm -rf "$work" && mkdir -p "$work"
status=0
fail() { echo "FAILED: $*"; status=1; }
# A free port: let the kernel pick one (python3), else a fixed fallback.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 26379)
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }

env LD_PRELOAD="$lib" LFH_STATS="$work/lfh-stats.txt" "$@" redis-server --bind 127.0.0.1 --port "$port" \
  --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" --daemonize no &
server=$!
trap 'kill -9 $server 2>/dev/null' EXIT   # never leave a server behind, whatever happens below
for _ in $(seq 1 100); do cli ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
cli ping | grep -q PONG || { fail "redis-server did not answer"; kill -9 $server 2>/dev/null; cat "$work/redis.log"; exit 1; }

# The benchmark: every command kind with 3 B and 1 KB values, the ones that store values with
# 64 KB values (LRANGE of 64 KB values only measures the network), 20 clients; then pipelined.
for size in 3 1024 65536; do
  n=$requests tests=ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange,mset
  [ "$size" -ge 65536 ] && n=$((requests / 10)) tests=set,get,lpush,rpush,lpop,hset,mset
  redis-benchmark -h 127.0.0.1 -p "$port" -n "$n" -c 20 -r 100000 -d "$size" -q --csv -t "$tests" \
    >>"$work/bench.csv" 2>>"$work/bench.err"
  [ $? -eq 0 ] || fail "redis-benchmark (values of $size B) exited non-zero"
done
redis-benchmark -h 127.0.0.1 -p "$port" -n "$requests" -c 20 -P 16 -r 1000000 -d 100 -q --csv -t set,get,lpush,lpop \
  >>"$work/bench.csv" 2>>"$work/bench.err" || fail "pipelined redis-benchmark exited non-zero"
[ -s "$work/bench.err" ] && grep -viE '^$|warning' "$work/bench.err" | grep -q . && fail "redis-benchmark reported errors:"$'\n'"$(head "$work/bench.err")"
grep -qiE 'error|refused|reset' "$work/bench.csv" && fail "errors in the benchmark output"
lines=$(grep -c '^"' "$work/bench.csv")
[ "$lines" -ge 35 ] || fail "only $lines benchmark results"

# The data set answers correctly afterwards: values written now are read back, large ones too.
cli flushall >/dev/null
for i in $(seq 1 200); do printf 'SET key:%d %s\n' "$i" "$(printf 'v%.0s' $(seq 1 $((i * 37 % 500 + 1))))"; done | cli >/dev/null
head -c 300000 /dev/zero | tr '\0' 'z' | cli -x set big >/dev/null
[ "$(cli get big | wc -c)" -eq 300001 ] || fail "a 300 KB value did not come back whole"
[ "$(cli dbsize)" = 201 ] || fail "dbsize is $(cli dbsize), expected 201"
[ "$(cli get key:100 | wc -c)" -eq $((100 * 37 % 500 + 2)) ] || fail "key:100 came back wrong"
cli debug reload >/dev/null 2>&1   # (RDB save and load in memory where the server allows it)
[ "$(cli dbsize)" = 201 ] || fail "dbsize after reload is $(cli dbsize)"
rejected=$(cli info stats | sed -n 's/^rejected_connections:\([0-9]*\).*/\1/p')
[ "${rejected:-0}" = 0 ] || fail "$rejected connections rejected"
used=$(cli info memory | sed -n 's/^used_memory_human:\(.*\)\r*$/\1/p')

cli shutdown nosave >/dev/null 2>&1
wait $server
rc=$?
trap - EXIT
[ $rc -eq 0 ] || fail "redis-server exited with $rc"
grep -q '^lfh: ' "$work/redis.log" && fail "lfh reported an error"
[ -s "$work/lfh-stats.txt" ] || fail "no lfh statistics: was liblfh.so preloaded into redis-server?"
echo "redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'): $lines benchmark results, $(awk -F, 'NR>1 {gsub(/"/,""); s+=$2} END {printf "%.0f", s}' "$work/bench.csv") requests/s summed, used memory $used"
[ $status -eq 0 ] && echo PASSED || echo FAILED
exit $status
