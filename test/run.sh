#!/bin/sh
# Checks the include graph (scripts/check-layers.py), then runs every test
# suite against a throw-away PostgreSQL cluster (pg_virtualenv) with the
# installed extension: pgTAP through pg_prove, then the HTTP suite against the
# real shim.  Called by `make test` after build and install.
# The runners' summaries are repeated last, after pg_virtualenv's own output.
set -eu
cd "$(dirname "$0")/.."
if [ "${NILUS_IN_VIRTUALENV:-}" != 1 ]; then
    summary=$(mktemp)
    trap 'rm -f "$summary"' EXIT
    status=0
    echo "== include graph (scripts/check-layers.py)"
    python3 scripts/check-layers.py > "$summary.layers" 2>&1 || status=1
    cat "$summary.layers"
    grep -E '^[0-9]+ passed, [0-9]+ failed' "$summary.layers" >> "$summary" || echo "0 passed, 1 failed (include graph check gave no summary)" >> "$summary"
    rm -f "$summary.layers"
    env NILUS_IN_VIRTUALENV=1 NILUS_SUMMARY="$summary" pg_virtualenv -t "$0" "$@" || status=$?
    echo "== summary"
    cat "$summary"
    exit $status
fi

status=0
createdb nilus_test
psql -X -q -v ON_ERROR_STOP=1 -d nilus_test -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION nilus'
echo "== pgTAP (pg_prove)"
pg_prove -d nilus_test test/sql/*.sql > pgtap.out 2>&1 || status=1
cat pgtap.out
grep -E '^(Files=|Result:)' pgtap.out >> "$NILUS_SUMMARY" || echo "Result: FAIL (pg_prove gave no summary)" >> "$NILUS_SUMMARY"
rm -f pgtap.out

echo "== HTTP (nilus-manager over real sockets)"
python3 test/http/run.py > http.out 2>&1 || status=1
cat http.out
grep -E '^[0-9]+ passed, [0-9]+ failed' http.out >> "$NILUS_SUMMARY" || echo "0 passed, 1 failed (HTTP suite gave no summary)" >> "$NILUS_SUMMARY"
rm -f http.out

echo "== monitoring files (promtool)"
python3 test/monitoring/check.py > monitoring.out 2>&1 || status=1
cat monitoring.out
grep -E '^monitoring: [0-9]+ passed, [0-9]+ failed' monitoring.out >> "$NILUS_SUMMARY" || echo "monitoring: 0 passed, 1 failed (no summary)" >> "$NILUS_SUMMARY"
rm -f monitoring.out
exit $status
