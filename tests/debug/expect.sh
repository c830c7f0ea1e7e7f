#!/usr/bin/env bash
# expect.sh — run one command and judge how it ended (the debug catalogue's driver).
#
#   expect.sh death  REGEX -- COMMAND...   must die of SIGSEGV, SIGBUS or SIGABRT (a bug caught)
#                                          and print a stderr line matching REGEX (grep -E)
#   expect.sh report REGEX -- COMMAND...   must exit 0 (LFH_ON_ERROR=report kept going) and print
#                                          a line matching REGEX
#   expect.sh clean  -     -- COMMAND...   must exit 0 and print no `lfh:` error report
#   expect.sh status=N REGEX -- COMMAND... must exit with N and print a line matching REGEX
#                                          (REGEX "-": no requirement)
# Exit 77 from COMMAND is passed on (CTest SKIP_RETURN_CODE). Core dumps are turned off.
set -u
mode=$1 regex=$2
shift 2
[ "${1:-}" = "--" ] && shift
ulimit -c 0
err=$(mktemp)
trap 'rm -f "$err"' EXIT
"$@" 2>"$err"
rc=$?
show() {
  echo "expect.sh: $*" >&2
  echo "--- command: $* " >&2
  echo "--- stderr (first 60 lines):" >&2
  head -60 "$err" >&2
}
[ $rc -eq 77 ] && { echo "skipped"; exit 77; }
matches() { [ "$regex" = "-" ] || grep -Eq -- "$regex" "$err"; }
case $mode in
  death)
    case $rc in
      134|135|139) ;;
      *) show "expected death by SIGABRT/SIGBUS/SIGSEGV, got exit status $rc"; exit 1 ;;
    esac
    matches || { show "no stderr line matches: $regex"; exit 1; } ;;
  report)
    [ $rc -eq 0 ] || { show "expected exit 0 (LFH_ON_ERROR=report), got $rc"; exit 1; }
    matches || { show "no stderr line matches: $regex"; exit 1; } ;;
  clean)
    [ $rc -eq 0 ] || { show "expected exit 0, got $rc"; exit 1; }
    # Any error report is a false positive (notices such as the page heap's map-count budget
    # are not errors).
    if grep -Eq '^lfh: (buffer overrun|buffer underrun|use after free|write after free|double free|invalid free|invalid realloc|heap corruption|heap validation failed|block belongs)' "$err"; then
      show "lfh reported an error on a correct program"; exit 1
    fi ;;
  status=*)
    want=${mode#status=}
    [ $rc -eq "$want" ] || { show "expected exit status $want, got $rc"; exit 1; }
    matches || { show "no stderr line matches: $regex"; exit 1; } ;;
  *) echo "expect.sh: unknown mode $mode" >&2; exit 2 ;;
esac
echo "ok ($mode, exit $rc)"
