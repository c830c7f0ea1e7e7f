#!/usr/bin/env bash
# Run a real program unmodified twice, on the system allocator and under LD_PRELOAD=liblfh.so,
# and compare what it produced. LFH_STATS makes every process lfh ran in write a statistics file,
# which proves the preload took effect (also in child processes such as cc1plus or git's helpers).
#
#   run_program.sh <python|gxx|git> <path of liblfh.so> <scratch dir>
# Exit: 0 same output, 1 different or failed, 77 the program is not installed (CTest: skipped).
set -u
case_name=$1 lib=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAILED: $*"; exit 1; }

rm -rf "$work" && mkdir -p "$work/sys" "$work/lfh" "$work/stats" || fail "cannot create $work"

# run <sys|lfh> <command...>: run in $work/<mode>, stdout to out.txt, status to status.txt.
run() {
  local mode=$1; shift
  if [ "$mode" = lfh ]; then
    (cd "$work/$mode" && env LD_PRELOAD="$lib" LFH_STATS="$work/stats/%p" "$@" >>out.txt 2>>err.txt)
  else
    (cd "$work/$mode" && "$@" >>out.txt 2>>err.txt)
  fi
  echo "$* -> $?" >>"$work/$mode/status.txt"
}

python_case() {
  local py=/usr/bin/python3
  [ -x "$py" ] || py=$(command -v python3) || skip "python3 not found"
  for mode in sys lfh; do run "$mode" "$py" "$here/workload.py"; done
}

gxx_case() {
  command -v g++ >/dev/null || skip "g++ not found"
  for mode in sys lfh; do
    run "$mode" g++ -std=c++17 -fsyntax-only "$here/hello_stl.cpp"
    run "$mode" g++ -std=c++17 -O2 -S -o hello.s "$here/hello_stl.cpp"
    run "$mode" g++ -std=c++17 -O1 -o hello "$here/hello_stl.cpp"
    run "$mode" ./hello
  done
  cmp -s "$work/sys/hello.s" "$work/lfh/hello.s" || fail "g++ -S produced different assembly under lfh"
}

git_case() {
  command -v git >/dev/null || skip "git not found"
  export HOME=$work GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
  export GIT_AUTHOR_NAME=lfh GIT_AUTHOR_EMAIL=lfh@example.org GIT_AUTHOR_DATE="2024-01-01T00:00:00Z"
  export GIT_COMMITTER_NAME=lfh GIT_COMMITTER_EMAIL=lfh@example.org GIT_COMMITTER_DATE="2024-01-01T00:00:00Z"
  for mode in sys lfh; do
    run "$mode" git init -q -b main repo
    for i in 1 2 3; do
      # Files of many sizes, so git's object code allocates across every size range.
      (cd "$work/$mode/repo" && for f in $(seq 1 40); do seq 1 $((f * f * i * 7)) >"file$f.txt"; done)
      run "$mode" git -C repo add -A
      run "$mode" git -C repo commit -q -m "commit $i"
    done
    run "$mode" git -C repo log --oneline
    run "$mode" git -C repo cat-file -p HEAD
    run "$mode" git -C repo ls-tree -r HEAD
    run "$mode" git -C repo diff --stat HEAD~2 HEAD
    run "$mode" git -C repo -c pack.threads=4 repack -adfq   # multi-threaded delta search
    run "$mode" git -C repo fsck --no-progress
    run "$mode" git -C repo -c pack.threads=1 repack -adfq   # threads make pack sizes vary
    run "$mode" git -C repo count-objects -v
  done
}

"${case_name}_case" || fail "case $case_name"

status=0
if ! cmp -s "$work/sys/status.txt" "$work/lfh/status.txt"; then
  echo "exit statuses differ:"; diff "$work/sys/status.txt" "$work/lfh/status.txt"; status=1
fi
grep -v -- '-> 0$' "$work/sys/status.txt" && { echo "a command failed even without lfh"; status=1; }
if ! cmp -s "$work/sys/out.txt" "$work/lfh/out.txt"; then
  echo "output differs under lfh:"; diff "$work/sys/out.txt" "$work/lfh/out.txt" | head -40; status=1
fi
if grep -q '^lfh: ' "$work/lfh/err.txt"; then
  echo "lfh reported an error:"; grep '^lfh: ' "$work/lfh/err.txt" | head; status=1
fi
processes=$(ls "$work/stats" | wc -l)
[ "$processes" -gt 0 ] || { echo "no process wrote lfh statistics: was liblfh.so preloaded?"; status=1; }
echo "$case_name: $(wc -l <"$work/lfh/status.txt") commands, lfh ran in $processes processes"
[ $status -eq 0 ] && echo PASSED || echo FAILED
exit $status
