#!/bin/sh
# The density benchmark of issue 16, in a throw-away PostgreSQL
# (pg_virtualenv, fsync on): tenant "dense" ran 100 runs a second for the
# last hour (360k runs, half of them of one resource, "hot"), tenant
# "quiet" one run every 10 seconds over the same hour; both one run a
# minute over the 30 days before (bench/sql/gen_density.sql).  Then, with
# pgbench (-M prepared, token and call in one pipeline as the shim sends
# them), each call for both tenants in one run, every transaction's tenant
# drawn at random, so that dense and quiet meet the same machine at the
# same moments and the ratio is not the noise between two runs:
#   list      list_pipelines(tenant, started_at_lte => a random instant of that hour)
#   list_hot  the same with resource_id => 'hot'
#   list_user the same with run_as_user => 'user-1'
#   list_hot_user the same with both
#   stats     pipeline_stats(tenant, 'hot', period => '<n>m'), n such that
#             its window starts in a random minute of that hour (the instant
#             within the minute is now's: measured for 60 s at least, so
#             that now's second covers the minute)
# and prints p50/p99/mean (ms) and the ratio dense/quiet of the p99s.  Then
# store_run (a new run and its finishing post, as bench/run.sh) on a third
# tenant: its requests/s measure the write path with every rollup level.
#
#   bench/density.sh [--duration S] [--clients N] [--writes-only]
#
# Defaults: 30 s per measurement, 2 clients.  --writes-only: store_run
# alone, on an empty database (so that a build without the minute rollups
# can be measured the same way).  Needs the extension installed, or staged
# (NILUS_BENCH_DESTDIR, bench/lib.sh).
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
duration=30 clients=2 writes_only=0
read_options density.sh "writes-only? duration clients" "$@"
in_bench_cluster "$0" "$@"

bench=$PWD/bench
work=$(mktemp -d /tmp/nilus-density.XXXXXX)
trap 'rm -rf "$work"' EXIT

create_bench_database nilus_density
token=$(psql -X -At -c "SELECT nilus.create_token(NULL, ARRAY['read', 'runtime'], 'bench-density')")
t0=$(psql -X -At -c "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")

# pgbench: name seconds body tenant...: one run with one script per tenant,
# the body with :tenant as that tenant's literal, each transaction's script
# drawn at random.  Appends "name tenant p50 p99 mean requests/s" per tenant.
measure() {
	local name=$1 seconds=$2 body=$3 tenant script=0
	shift 3
	local tenants="$*"
	set -- -n -M prepared -c "$clients" -j "$clients" -D token="$token" -D t0="$t0"
	for tenant in $tenants; do
		printf '%s\n' "\\set ms random(0, 3599999)" "\\set us random(0, 999)" "\\set m random(1, 60)" \
			'\startpipeline' 'SELECT nilus.authenticate(:token);' "$(printf '%s' "$body" | sed "s/:tenant/'$tenant'/g")" \
			'\endpipeline' >"$work/$name-$tenant.sql"
		set -- "$@" -f "$work/$name-$tenant.sql"
	done
	PGUSER=$api_role PGPASSWORD=$api_password pgbench "$@" -T 5 >/dev/null 2>&1 || true
	rm -f "$work"/pgb.*
	PGUSER=$api_role PGPASSWORD=$api_password pgbench "$@" -T "$seconds" --log --log-prefix="$work/pgb" >"$work/pgbench.out" 2>&1 ||
		{ echo "density.sh: pgbench $name failed:" >&2; tail -3 "$work/pgbench.out" >&2; exit 1; }
	for tenant in $tenants; do
		echo "$name $tenant $(log_percentiles "$work/pgb" $script) $(cat "$work"/pgb.* | awk -v s=$script -v t="$seconds" '$4 == s { n++ } END { printf "%d", n / t }')" >>"$work/results"
		script=$((script + 1))
	done
}
store_run() {
	say "measuring store_run"
	measure store_run "$duration" "SELECT nilus.store_run(:tenant, jsonb_build_object('run_id', md5('d-' || :client_id || '-' || random())::uuid, 'resource_id', 'hot', 'pipeline_name', 'p', 'run_as_user', 'user-1', 'started_at', now(), 'is_success', true, 'duration_sec', :m::int));" writer
	set -- $(grep "^store_run " "$work/results")
	echo "store_run  $6 requests/s, p50 $3 ms, p99 $4 ms (one post a request: a new finished run; extension $(psql -X -At -c "SELECT extversion FROM pg_extension WHERE extname = 'nilus'"), $(psql -X -At -c "SELECT count(*) FROM pg_class WHERE relname LIKE 'run_rollup_%' AND relkind = 'r'") rollup tables)"
}
: >"$work/results"
if [ "$writes_only" = 1 ]; then
	store_run
	exit 0
fi
say "loading 360k runs of the dense hour and 87k of history (t0 = $t0)"
psql -X -q -v t0="$t0" -f "$bench/sql/gen_density.sql" >/dev/null

lte="started_at_lte => :t0::timestamptz - interval '1 hour' + make_interval(secs => :ms / 1000.0 + :us / 1000000.0)"
say "measuring quiet and dense, interleaved"
measure list "$duration" "SELECT nilus.list_pipelines(:tenant, $lte);" quiet dense
measure list_hot "$duration" "SELECT nilus.list_pipelines(:tenant, resource_id => 'hot', $lte);" quiet dense
measure list_user "$duration" "SELECT nilus.list_pipelines(:tenant, run_as_user => 'user-1', $lte);" quiet dense
measure list_hot_user "$duration" \
	"SELECT nilus.list_pipelines(:tenant, resource_id => 'hot', run_as_user => 'user-1', $lte);" quiet dense
# A period is whole minutes, so the window starts at now's second within
# its minute: stats run a minute at least, so that those seconds cover it.
measure stats "$((duration < 60 ? 60 : duration))" \
	"SELECT nilus.pipeline_stats(:tenant, 'hot', period => (:m + extract(epoch FROM now() - :t0::timestamptz)::int / 60) || 'm');" quiet dense
echo "density benchmark: $duration s per call, $clients pgbench clients, t0 = $t0"
echo "call          quiet p50/p99 (ms)   dense p50/p99 (ms)   p99 dense/quiet"
for name in list list_hot list_user list_hot_user stats; do
	set -- $(grep "^$name quiet " "$work/results") $(grep "^$name dense " "$work/results")
	printf '%-13s %8s / %-8s    %8s / %-8s   %.2f\n' "$name" "$3" "$4" "$9" "${10}" "$(echo "${10} $4" | awk '{ print $1 / $2 }')"
done
store_run
