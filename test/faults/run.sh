#!/bin/sh
# The fault suite (`make check-faults`, after build and install): test/faults/run.py
# in a throw-away cluster of its own (pg_virtualenv), which it stops and starts.
# The runner's summary is repeated last, after pg_virtualenv's own output.
set -eu
cd "$(dirname "$0")/../.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
echo "== faults (test/faults/run.py)"
pg_virtualenv -t python3 test/faults/run.py "$@" > "$out" 2>&1 || status=1
cat "$out"
echo "== summary"
grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" || { echo "0 passed, 1 failed (the fault suite gave no summary)"; status=1; }
exit $status
