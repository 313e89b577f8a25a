#!/bin/sh
# Checks the include graph (scripts/check-layers.py), fuzzes the request
# checks for a short while (make -C shim fuzz), then runs every test
# suite against a throw-away PostgreSQL cluster (pg_virtualenv) with the
# installed extension: pgTAP through pg_prove, pg_regress (make
# installcheck), then the HTTP suite against the real shim, the monitoring
# files, the dashboard in headless Chromium, the docs suite (the demo in a
# cluster of its own, the README, doc/) and the browser suite; then the
# database-native suite in a cluster of its own that runs nilus-manager
# itself (test/native/run.py).  NILUS_MANAGER_BIN and NILUS_DOCS_DIR name another shim and
# its assets (make check-packages: the installed ones).  Called by `make test`
# after build and install.
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
    echo "== fuzz (libFuzzer, ASan+UBSan, ${FUZZ_SECONDS:-30} s a target)"
    make -s -C shim fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}" > "$summary.fuzz" 2>&1 || status=1
    cat "$summary.fuzz"
    grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed' "$summary.fuzz" >> "$summary" || echo "fuzz: 0 passed, 1 failed (no summary)" >> "$summary"
    rm -f "$summary.fuzz"
    env NILUS_IN_VIRTUALENV=1 NILUS_SUMMARY="$summary" pg_virtualenv -t "$0" "$@" || status=$?
    echo "== database-native API (PostgreSQL runs nilus-manager; a cluster of its own)"
    python3 test/native/run.py > native.out 2>&1 || status=1
    cat native.out
    grep -E '^[0-9]+ passed, [0-9]+ failed' native.out | tail -n 1 >> "$summary" \
        || echo "0 passed, 1 failed (database-native suite gave no summary)" >> "$summary"
    rm -f native.out
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

echo "== pg_regress (make installcheck)"
make -s installcheck > regress.out 2>&1 || status=1
cat regress.out
if [ -f test/regress/regression.diffs ]; then cat test/regress/regression.diffs; fi
# pg_regress ends with "All N tests passed." or "M of N tests failed.".
sed -n -e 's/^ *All \([0-9]*\) tests passed.*/\1 passed, 0 failed (make installcheck)/p' \
       -e 's/^ *\([0-9]*\) of \([0-9]*\) tests failed.*/\2 \1/p' regress.out |
    awk 'NF == 2 { print $1 - $2 " passed, " $2 " failed (make installcheck)"; next } { print }' \
    > regress.summary
if [ -s regress.summary ]; then cat regress.summary >> "$NILUS_SUMMARY"
else echo "0 passed, 1 failed (make installcheck gave no summary)" >> "$NILUS_SUMMARY"; fi
rm -f regress.out regress.summary

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

echo "== dashboard (headless Chromium)"
python3 test/browser/dashboard.py > dashboard.out 2>&1 || status=1
cat dashboard.out
grep -E '^dashboard: [0-9]+ passed, [0-9]+ failed' dashboard.out >> "$NILUS_SUMMARY" || echo "dashboard: 0 passed, 1 failed (no summary)" >> "$NILUS_SUMMARY"
rm -f dashboard.out

echo "== Docs (the demo, the README's examples and doc/ against the code)"
python3 test/docs/run.py > docs.out 2>&1 || status=1
cat docs.out
grep -E '^docs: [0-9]+ passed, [0-9]+ failed' docs.out >> "$NILUS_SUMMARY" || echo "docs: 0 passed, 1 failed (no summary)" >> "$NILUS_SUMMARY"
rm -f docs.out

echo "== Browser (the docs pages in headless Chromium)"
python3 test/browser/run.py > browser.out 2>&1 || status=1
cat browser.out
grep -E '^browser: [0-9]+ passed, [0-9]+ failed' browser.out >> "$NILUS_SUMMARY" || echo "browser: 0 passed, 1 failed (no summary)" >> "$NILUS_SUMMARY"
rm -f browser.out
exit $status
