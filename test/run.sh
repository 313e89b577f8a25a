#!/bin/sh
# Runs every test suite against a throw-away PostgreSQL cluster (pg_virtualenv)
# with the installed extension: pgTAP through pg_prove, then the HTTP suite
# against the real shim.  Called by `make test` after build and install.
set -eu
cd "$(dirname "$0")/.."
if [ -z "${PGHOST:-}" ] || [ "${NILUS_IN_VIRTUALENV:-}" != 1 ]; then
    exec env NILUS_IN_VIRTUALENV=1 pg_virtualenv -t "$0" "$@"
fi

status=0
createdb nilus_test
psql -X -q -v ON_ERROR_STOP=1 -d nilus_test -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION nilus'
echo "== pgTAP (pg_prove)"
pg_prove -d nilus_test test/sql/*.sql || status=1

echo "== HTTP (nilus-manager over real sockets)"
python3 test/http/run.py || status=1
exit $status
