#!/bin/sh
# The shim's CPU per request (issue 16): user + system time of the
# nilus-manager process (/proc/PID/stat) divided by the requests wrk got
# answered, for get_offsets (the cheapest route) and a listing, for each
# shim given, alternating between them, in a throw-away PostgreSQL with a
# small data set (bench/generate.sh at --quick scale).
#
#   bench/shim_cpu.sh [--rounds N] [--duration S] LABEL=SHIM [LABEL=SHIM ...]
#
# e.g. bench/shim_cpu.sh main=/tmp/main/shim/nilus-manager new=shim/nilus-manager
# Each line: LABEL ROUTE requests/s µs-per-request (one per round).  wrk at
# concurrency 8 (2 threads), the shim with --threads 8.
set -eu
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || NILUS_BENCH_DEPS=1 scripts/install-deps.sh
. bench/lib.sh
rounds=3 duration=6
read_options shim_cpu.sh "rounds duration ..." "$@"
[ $# -gt "$options_read" ] || { echo "shim_cpu.sh: name at least one LABEL=SHIM" >&2; exit 2; }
in_bench_cluster "$0" "$@"
shift "$options_read"

export PGDATABASE=nilus_cpu PGHOST=${PGHOST:-/var/run/postgresql}
work=$(mktemp -d /tmp/nilus-cpu.XXXXXX)
shim_pid=
trap '[ -z "$shim_pid" ] || kill "$shim_pid" 2>/dev/null; rm -rf "$work"' EXIT
createdb nilus_cpu
psql -X -q -c 'CREATE EXTENSION nilus' \
	-c "CREATE ROLE nilus_cpu_api LOGIN PASSWORD 'cpu' IN ROLE nilus_api"
bench/generate.sh --large-runs 20000 --small-runs 2000 --tenants 1 --large-offsets 20000 \
	--connectors 1 >/dev/null 2>&1
token=$(psql -X -At -c "SELECT nilus.create_token('large', ARRAY['read', 'runtime'], 'cpu')")
port=$(( $(od -An -N2 -tu2 /dev/urandom) % 20000 + 30000 ))

# Ticks of user + system time the process has used.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# SCRIPT SECONDS: wrk at concurrency 8 against the shim.
run_wrk() {
	env NILUS_BENCH_DIR="$PWD/bench" NILUS_TOKEN="$token" NILUS_TENANT=large NILUS_PIPELINE=cdc-1m \
		wrk -t 2 -c 8 -d "${2}s" -s "bench/wrk/$1" "http://127.0.0.1:$port"
}

# LABEL SHIM ROUTE SCRIPT: one measurement, after 2 s of warm-up.
measure() {
	"$2" --dsn "dbname=$PGDATABASE host=$PGHOST user=nilus_cpu_api password=cpu" \
		--listen "127.0.0.1:$port" --metrics-listen none --threads 8 2>"$work/shim.log" &
	shim_pid=$!
	tries=0
	until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
		tries=$((tries + 1))
		[ $tries -lt 100 ] && kill -0 "$shim_pid" 2>/dev/null || { cat "$work/shim.log" >&2; exit 1; }
		sleep 0.1
	done
	run_wrk "$4" 2 >/dev/null 2>&1
	before=$(cpu_ticks "$shim_pid")
	run_wrk "$4" "$duration" >"$work/wrk.out" 2>&1
	after=$(cpu_ticks "$shim_pid")
	kill "$shim_pid"
	wait "$shim_pid" 2>/dev/null || true
	shim_pid=
	awk -v label="$1" -v route="$3" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" \
		-v seconds="$duration" '/^RESULT / && $2 > 0 && $8 == 0 {
			printf "%s %s %.0f req/s %.1f us/request\n", label, route, $2 / seconds,
				ticks / hz / $2 * 1e6; found = 1 }
		END { if (!found) print label, route, "failed" }' "$work/wrk.out"
}

for round in $(seq "$rounds"); do
	for pair; do
		measure "${pair%%=*}" "${pair#*=}" get_offsets get_offsets.lua
		measure "${pair%%=*}" "${pair#*=}" listing pipelines.lua
	done
done
