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
# A port of its own, away from the 5432 upwards that other clusters take first:
# while this one is stopped, another could take its port and keep it from starting.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pg_virtualenv -t -c "-p $port" python3 test/faults/run.py "$@" > "$out" 2>&1 || status=1
cat "$out"
echo "== summary"
grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" || { echo "0 passed, 1 failed (the fault suite gave no summary)"; status=1; }
exit $status
