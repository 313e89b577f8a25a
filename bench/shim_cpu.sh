#!/bin/sh
# The shim's CPU per request (issue 16): user + system time of the
# nilus-manager process (/proc/PID/stat) divided by the requests wrk got
# answered, for get_offsets (the cheapest route) and a listing, for each
# shim given, alternating between them, in a throw-away PostgreSQL with a
# small data set (bench/generate.sh at --quick scale).
#
#   bench/shim_cpu.sh [--rounds N] [--duration S] [--loops "N ..."] LABEL=SHIM [LABEL=SHIM ...]
#
# e.g. bench/shim_cpu.sh main=/tmp/main/shim/nilus-manager new=shim/nilus-manager
#      bench/shim_cpu.sh --loops "1 2" new=shim/nilus-manager
# Each line: LABEL ROUTE requests/s µs-per-request (one per round).  wrk at
# concurrency 8 (2 threads), the shim with --threads 8.  --loops: each shim
# once per --loops N given (LABEL becomes LABEL/loopsN), in the same rounds.
# At the end, each measurement's requests/s against the first one's of its
# route in the same round (ratios).
set -eu
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || NILUS_BENCH_DEPS=1 scripts/install-deps.sh
. bench/lib.sh
rounds=3 duration=6 loops=
read_options shim_cpu.sh "rounds duration loops ..." "$@"
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
port=$(free_port)

# Ticks of user + system time the process has used.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# SCRIPT SECONDS: wrk at concurrency 8 against the shim.
run_wrk() {
	env NILUS_BENCH_DIR="$PWD/bench" NILUS_TOKEN="$token" NILUS_TENANT=large NILUS_PIPELINE=cdc-1m \
		wrk -t 2 -c 8 -d "${2}s" -s "bench/wrk/$1" "http://127.0.0.1:$port"
}

# LABEL SHIM ROUTE SCRIPT [FLAG ...]: one measurement, after 2 s of warm-up.
measure() {
	label=$1 binary=$2 route=$3 script=$4
	shift 4
	start_shim "$binary" --dsn "dbname=$PGDATABASE host=$PGHOST user=nilus_cpu_api password=cpu" \
		--threads 8 "$@"
	run_wrk "$script" 2 >/dev/null 2>&1
	before=$(cpu_ticks "$shim_pid")
	run_wrk "$script" "$duration" >"$work/wrk.out" 2>&1
	after=$(cpu_ticks "$shim_pid")
	stop_shim
	awk -v label="$label" -v route="$route" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" \
		-v seconds="$duration" '/^RESULT / && $2 > 0 && $8 == 0 {
			printf "%s %s %.0f req/s %.1f us/request\n", label, route, $2 / seconds,
				ticks / hz / $2 * 1e6; found = 1 }
		END { if (!found) print label, route, "failed" }' "$work/wrk.out" | tee -a "$work/results"
}

# LABEL SHIM: both routes, once per --loops given (none: the shim's default).
measure_routes() {
	for n in ${loops:-default}; do
		flags= name=$1
		[ "$n" = default ] || flags="--loops $n" name="$1/loops$n"
		measure "$name" "$2" get_offsets get_offsets.lua $flags
		measure "$name" "$2" listing pipelines.lua $flags
	done
}

for round in $(seq "$rounds"); do
	for pair; do
		measure_routes "${pair%%=*}" "${pair#*=}"
	done
done
# Each line's requests/s against the first one's of its route in the same round.
awk -v per_round="$(( $(echo "${loops:-default}" | wc -w) * $# ))" '
	$3 == "failed" { next }
	{ i = count[$2]++; round = int(i / per_round); if (i % per_round == 0) first[$2, round] = $3
	  printf "ratio %s %s round %d: %.2fx the requests/s of the first\n", $1, $2, round + 1,
		$3 / first[$2, round] }' "$work/results"
