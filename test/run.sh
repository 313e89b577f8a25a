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
. test/lib/run_suite.sh
if [ "${NILUS_IN_VIRTUALENV:-}" != 1 ]; then
    NILUS_SUMMARY=$(mktemp)
    trap 'rm -f "$NILUS_SUMMARY"' EXIT
    status=0
    run_suite "include graph (scripts/check-layers.py)" counts \
        "0 passed, 1 failed (include graph check gave no summary)" python3 scripts/check-layers.py
    run_suite "fuzz (libFuzzer, ASan+UBSan, ${FUZZ_SECONDS:-30} s a target)" "counts fuzz" \
        "fuzz: 0 passed, 1 failed (no summary)" make -s -C shim fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
    env NILUS_IN_VIRTUALENV=1 NILUS_SUMMARY="$NILUS_SUMMARY" pg_virtualenv -t "$0" "$@" || status=$?
    run_suite "database-native API (PostgreSQL runs nilus-manager; a cluster of its own)" counts \
        "0 passed, 1 failed (database-native suite gave no summary)" python3 test/native/run.py
    echo "== summary"
    cat "$NILUS_SUMMARY"
    exit $status
fi

status=0
createdb nilus_test
psql -X -q -v ON_ERROR_STOP=1 -d nilus_test -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION nilus'
run_suite "pgTAP (pg_prove)" pg_prove_summary \
    "Result: FAIL (pg_prove gave no summary)" pg_prove -d nilus_test test/sql/*.sql
run_suite "pg_regress (make installcheck)" pg_regress_summary \
    "0 passed, 1 failed (make installcheck gave no summary)" installcheck_with_diffs
run_suite "HTTP (nilus-manager over real sockets)" counts \
    "0 passed, 1 failed (HTTP suite gave no summary)" python3 test/http/run.py
run_suite "monitoring files (promtool)" "counts monitoring" \
    "monitoring: 0 passed, 1 failed (no summary)" python3 test/monitoring/check.py
run_suite "dashboard (headless Chromium)" "counts dashboard" \
    "dashboard: 0 passed, 1 failed (no summary)" python3 test/browser/dashboard.py
run_suite "Docs (the demo, the README's examples and doc/ against the code)" "counts docs" \
    "docs: 0 passed, 1 failed (no summary)" python3 test/docs/run.py
run_suite "Browser (the docs pages in headless Chromium)" "counts browser" \
    "browser: 0 passed, 1 failed (no summary)" python3 test/browser/run.py
exit $status
