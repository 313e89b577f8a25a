#!/bin/sh
# One node against a Citus cluster (coordinator + 2 workers) on this machine,
# with the same data: throughput and latency of stats, a listing with its
# total, get_offsets, store_run and store_offsets, as nilus-manager sends
# them (authenticate + the call in one pipeline, bench/pgbench/*.sql); then
# the latency one call pays for its delegation to the tenant's worker, with
# few and with many tenants.
#
#   bench/citus.sh [--clients N] [--duration S] [--runs N] [--tenants "A B"]
#
# Defaults: 4 clients, 6 s per measurement after 2 s of warm-up, 20k runs in
# tenant "large", and the delegation measured at 10 then 200 tenants (each
# with 500 runs and a CDC pipeline).  Both databases live on the
# coordinator's server (the single node one without Citus) and get the same
# bench/generate.sh load.  Needs Citus (test/citus/ensure.sh) and the
# extension installed; runs in test/citus/cluster.sh's throw-away clusters.
set -eu
cd "$(dirname "$0")/.."
bench=$PWD/bench
. bench/lib.sh
clients=4 duration=6 warmup=2 runs=20000 tenants="10 200"
read_options citus.sh "clients duration runs tenants" "$@"
if [ -z "${NILUS_BENCH_PHASE:-}" ]; then
	test/citus/ensure.sh
	results=$(mktemp -d)
	trap 'rm -rf "$results"' EXIT
	# The single node without Citus loaded at all, then the cluster.
	NILUS_BENCH_PHASE=single NILUS_BENCH_RESULTS=$results pg_virtualenv -t "$0" "$@"
	NILUS_BENCH_PHASE=cluster NILUS_BENCH_RESULTS=$results test/citus/cluster.sh "$0" "$@"
	echo "== per call, $(cat "$results/clients") clients: one node | 3-node Citus cluster (tps, p50 ms, p99 ms)"
	printf '%-15s %8s %7s %7s   %8s %7s %7s\n' call tps p50 p99 tps p50 p99
	join "$results/single" "$results/cluster" | grep -v '^delegation' |
		awk '{ printf "%-15s %8s %7s %7s   %8s %7s %7s\n", $1, $2, $3, $4, $6, $7, $8 }'
	echo "== delegation: one client, get_offsets of a small tenant (mean ms: one node, cluster, difference; p99)"
	join "$results/single" "$results/cluster" | grep '^delegation' | sort -t- -k2 -n |
		awk '{ printf "%5s tenants: %6s %6s %+7.2f   (p99 %s | %s)\n", substr($1, 12), $5, $9, $9 - $5, $4, $8 }'
	exit 0
fi

phase=$NILUS_BENCH_PHASE
results=$NILUS_BENCH_RESULTS/$phase
echo "$clients" > "$NILUS_BENCH_RESULTS/clients"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
role=nilus_bench_api
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
export PGDATABASE=nilus_bench

# The bench role reaches every tenant without a token, as the README asks of
# the shim's role on a cluster (delegated calls run on the workers as it).
if [ "$phase" = cluster ]; then "$NILUS_CITUS_CREATEDB" $PGDATABASE; else createdb $PGDATABASE; fi
psql -X -q -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
CREATE EXTENSION nilus;
$([ "$phase" = cluster ] && echo "SELECT nilus.distribute();")
CREATE ROLE $role LOGIN PASSWORD '$password' IN ROLE nilus_api;
INSERT INTO nilus.tenant_role VALUES ('*', '$role');
SQL

# Tenants tenant-NN with 500 runs, a CDC pipeline cdc-01; "large" and "small" beside them.
say "$phase: loading $runs runs in tenant large, ${tenants%% *} more tenants"
PGOPTIONS="-c client_min_messages=error" "$bench/generate.sh" --large-runs "$runs" --small-runs 500 --tenants "${tenants%% *}" \
	--resources 10 --users 4 --days 30 --large-offsets 2000 --small-offsets 1000 \
	--connectors 1 --connector-offsets 300 --schema-records 5 >/dev/null

# More tenants, each with a few offset records (a tenant costs a delegated call nothing more).
add_tenants() {
	i=$(( $1 + 1 ))
	while [ $i -le "$2" ]; do
		echo "SELECT nilus.store_offsets('tenant-$i', 'cdc-01', '{\"resource_id\": \"r\", \"connector_name\": \"c\", \"offsets\": [{\"offset_key\": \"k\", \"offset_val\": \"1\"}]}');"
		i=$((i + 1))
	done | psql -X -q -v ON_ERROR_STOP=1 >/dev/null
}

# p50, p99 and mean (ms) of pgbench's per-transaction log (µs, 3rd field).
percentiles() {
	cat "$1".* | awk '{ print $3 }' | sort -n | awk '
		{ v[NR] = $1; sum += $1 }
		END { i50 = int(NR * 0.50); i99 = int(NR * 0.99)
		      printf "%.2f %.2f %.2f\n", v[i50 < 1 ? 1 : i50] / 1000, v[i99 < 1 ? 1 : i99] / 1000, sum / NR / 1000 }'
}

# measure script tenant clients pipeline: prints "tps p50 p99 mean".
measure() {
	token=$(psql -X -At -c "SELECT nilus.create_token('$2', ARRAY['read', 'runtime'], 'bench-' || gen_random_uuid())")
	set -- -n -M prepared -c "$3" -j "$(($3 < 2 ? 1 : 2))" -f "$bench/pgbench/$1" \
		-D token="$token" -D tenant="$2" -D resources=10 -D period=7d -D pipeline="$4" -D writers=64
	PGUSER=$role PGPASSWORD=$password pgbench "$@" -T "$warmup" >/dev/null 2>&1
	rm -f "$work"/pgb.*
	PGUSER=$role PGPASSWORD=$password pgbench "$@" -T "$duration" --log --log-prefix="$work/pgb" >"$work/out" 2>&1 ||
		{ echo "citus.sh: pgbench $1 failed: $(grep -m1 -i error "$work/out")" >&2; exit 1; }
	if grep -q '^number of failed transactions: [1-9]' "$work/out"; then
		echo "citus.sh: pgbench $1: failed transactions" >&2
		exit 1
	fi
	echo "$(sed -n 's/^tps = \([0-9]*\)[.0-9]* .*/\1/p' "$work/out") $(percentiles "$work/pgb")"
}

say "$phase: measuring"
for call in get_offsets pipelines stats store_offsets store_run; do
	echo "$call $(measure $call.sql large "$clients" cdc-1k)" >> "$results"
done
loaded=0
for step in $tenants; do
	[ $loaded = 0 ] || add_tenants "$loaded" "$step"
	loaded=$step
	echo "delegation-$step $(measure get_offsets.sql tenant-01 1 cdc-01)" >> "$results"
done
sort -o "$results" "$results"
