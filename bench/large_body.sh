#!/bin/sh
# Small requests while 8 MiB bodies arrive (issue 16): the latency of
# get_offsets, one client sending one request after another on its
# keep-alive connection, while another client POSTs 8 MiB schema histories
# back to back, against the same client with no POSTs; each shim given in
# turn, in a throw-away PostgreSQL with a small data set.
#
#   bench/large_body.sh [--posts N] [--rounds N] "LABEL=SHIM [FLAG ...]" ...
#
# e.g. bench/large_body.sh "main=/tmp/main/shim/nilus-manager" \
#          "new=shim/nilus-manager --loops 1"
# Each line: LABEL quiet|posting requests p50 p99 max (ms) of the small
# requests.  One loop is what shows the parse: with several, the small
# client's connection is often on another loop than the POSTs'.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
posts=10 rounds=2
read_options large_body.sh "posts rounds ..." "$@"
[ $# -gt "$options_read" ] || { echo "large_body.sh: name at least one \"LABEL=SHIM [FLAG ...]\"" >&2; exit 2; }
in_bench_cluster "$0" "$@"
shift "$options_read"

export PGHOST=${PGHOST:-/var/run/postgresql}
work=$(mktemp -d /tmp/nilus-large-body.XXXXXX)
shim_pid=
trap '[ -z "$shim_pid" ] || kill "$shim_pid" 2>/dev/null; rm -rf "$work"' EXIT
create_bench_database nilus_large_body
bench/generate.sh --large-runs 2000 --small-runs 200 --tenants 1 --large-offsets 2000 \
	--connectors 1 >/dev/null 2>&1
token=$(psql -X -At -c "SELECT nilus.create_token('large', ARRAY['read', 'runtime'], 'large-body')")
port=$(free_port)
export NILUS_DSN="host=$PGHOST port=${PGPORT:-5432} dbname=$PGDATABASE user=$api_role password=$api_password"

# LABEL: the small client alone, then beside the POSTs.
measure() {
	python3 - "$1" "$port" "$token" "$posts" <<'PY'
import http.client, json, sys, threading, time

label, port, token, posts = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
api = "/nilus-manager/api/v1/tenants/large/pipeline"
auth = {"Authorization": f"Bearer {token}"}
# Debezium's history records: DDL and the table's columns, as a JSON text each.
record = json.dumps({"ddl": "CREATE TABLE t (...)", "tableChanges": [
    {"type": "CREATE", "columns": [{"name": f"c{i}", "typeName": "int4", "position": i}
                                   for i in range(120)]}]})
records = [{"history_data": record}] * ((8 * 1024 * 1024 - 200) // (len(json.dumps({"history_data": record})) + 2))
body = json.dumps({"resource_id": "service:v1:large-body:public", "connector_name": "large-body",
                   "records": records}).encode()
assert len(body) <= 8 * 1024 * 1024, len(body)


def small_requests(keep_going):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    took = []
    while keep_going():
        started = time.monotonic()
        conn.request("GET", f"{api}/cdc-1m/offsets", headers=auth)
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
        took.append((time.monotonic() - started) * 1000)
    return sorted(took)


def post_all(done):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(posts):
        conn.request("POST", f"{api}/large-body/schema-history", body=body,
                     headers=dict(auth, **{"Content-Type": "application/json"}))
        r = conn.getresponse()
        r.read()
        assert r.status == 201, r.status
    done.set()


def report(what, took):
    print(f"{label} {what} {len(took)} requests p50 {took[len(took) // 2]:.2f} "
          f"p99 {took[int(len(took) * 0.99)]:.2f} max {took[-1]:.2f} ms", flush=True)


quiet_until = time.monotonic() + 3
report("quiet", small_requests(lambda: time.monotonic() < quiet_until))
done = threading.Event()
poster = threading.Thread(target=post_all, args=(done,))
poster.start()
report(f"posting({len(body) / 1048576:.1f}MiB)", small_requests(lambda: not done.is_set()))
poster.join()
PY
}

for round in $(seq "$rounds"); do
	for pair; do
		# The shim and its flags: split on spaces.
		# shellcheck disable=SC2086
		start_shim ${pair#*=}
		measure "${pair%%=*}"
		stop_shim
	done
done
