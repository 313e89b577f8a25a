#!/bin/sh
# Writes under load (issue 16, item 4), in a throw-away PostgreSQL
# (pg_virtualenv, fsync on, synchronous_commit on): requests/s and latency
# of the write routes' functions at 8, 32 and 128 concurrent clients, with
# pgbench (-M prepared, token and call in one pipeline as nilus-manager
# sends them), all clients writing one tenant:
#   store_run        a new finished run (every rollup level written), over
#                    10 resources (--resources) and 5 users of the tenant
#   store_offsets    a connector's flush of 1 key, each client its own
#                    pipeline (a connector writes its own pipeline)
#   store_offsets_3  the same with the connector-style batch of 3 keys
# While each runs, pg_stat_activity is sampled every 50 ms: the share of
# the active client backends in each wait event (CPU when none), so the
# figures say where it saturates (WAL flush, row locks, CPU).  Lock:tuple
# and Lock:transactionid are waits for a row another writer holds.
#
#   bench/writes.sh [--duration S] [--clients "8 32 128"] [--calls "store_run ..."] [--resources N]
#
# Defaults: 20 s per measurement (after 3 s of warm-up).  Needs the
# extension installed, or staged (NILUS_BENCH_DESTDIR, bench/lib.sh).
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
duration=20 clients="8 32 128" calls="store_run store_offsets store_offsets_3" resources=10
read_options writes.sh "duration clients calls resources" "$@"
in_bench_cluster -o max_connections=200 -o synchronous_commit=on "$0" "$@"

work=$(mktemp -d /tmp/nilus-writes.XXXXXX)
trap 'rm -rf "$work"' EXIT

create_bench_database nilus_writes
token=$(psql -X -At -c "SELECT nilus.create_token(NULL, ARRAY['read', 'runtime'], 'bench-writes')")
# The sampler: a procedure that commits between samples, as pg_stat_activity
# is read once per transaction.
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE wait_sample (call text, clients int, wait text, n int);
CREATE PROCEDURE sample_waits(call text, clients int, seconds float8) LANGUAGE plpgsql AS $$
DECLARE
    stop timestamptz := clock_timestamp() + seconds * interval '1 second';
BEGIN
    WHILE clock_timestamp() < stop LOOP
        INSERT INTO wait_sample
        SELECT call, clients, coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*)
          FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()
           AND datname = current_database() AND usename <> current_user
         GROUP BY 3;
        COMMIT;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
SQL

script() {
	case $1 in
	store_run)
		printf '%s\n' "\\set r random(1, $resources)"
		printf '%s\n' "\\set u random(1, 5)"
		printf '%s\n' "\\set secs random(1, 600)"
		printf '%s\n' "\\startpipeline"
		printf '%s\n' "SELECT nilus.authenticate(:token);"
		printf '%s\n' "SELECT nilus.store_run(:tenant, jsonb_build_object('run_id', gen_random_uuid(), 'resource_id', 'workflow-' || :r, 'pipeline_name', 'pipeline-' || :r, 'run_as_user', 'user-' || :u, 'started_at', now(), 'finished_at', now(), 'is_success', true, 'duration_sec', :secs::int));"
		printf '%s\n' "\\endpipeline" ;;
	store_offsets | store_offsets_3)
		keys=1
		[ "$1" = store_offsets ] || keys=3
		printf '%s\n' "\\set lsn random(1, 1000000000000)"
		printf '%s\n' "\\startpipeline"
		printf '%s\n' "SELECT nilus.authenticate(:token);"
		printf "%s" "SELECT nilus.store_offsets(:tenant, 'cdc-' || :client_id, jsonb_build_object('resource_id', 'cdc-workflow-' || :client_id, 'connector_name', 'connector-' || :client_id, 'offsets', jsonb_build_array("
		k=1
		while [ $k -le $keys ]; do
			[ $k = 1 ] || printf ", "
			printf "%s" "jsonb_build_object('id', gen_random_uuid(), 'offset_key', '[\"connector-' || :client_id || '\",{\"partition\":$k}]', 'offset_val', '{\"lsn\":' || :lsn || '}')"
			k=$((k + 1))
		done
		printf '%s\n' ")));"
		printf '%s\n' "\\endpipeline" ;;
	esac
}

echo "writes benchmark: $duration s per measurement, one tenant, fsync on, synchronous_commit on"
echo "call             clients  requests/s  p50 ms  p99 ms  waits (share of active backends)"
for call in $calls; do
	script "$call" >"$work/$call.sql"
	for c in $clients; do
		say "measuring $call at $c clients"
		jobs=$((c < 4 ? c : 4))
		set -- -n -M prepared -c "$c" -j "$jobs" -f "$work/$call.sql" -D token="$token" -D tenant=writer
		PGUSER=$api_role PGPASSWORD=$api_password pgbench "$@" -T 3 >/dev/null 2>&1 || true
		rm -f "$work"/pgb.*
		psql -X -q -c "CALL sample_waits('$call', $c, $duration)" &
		sampler=$!
		PGUSER=$api_role PGPASSWORD=$api_password pgbench "$@" -T "$duration" --log --log-prefix="$work/pgb" \
			>"$work/pgbench.out" 2>&1 ||
			{ echo "writes.sh: pgbench $call failed:" >&2; tail -3 "$work/pgbench.out" >&2; exit 1; }
		wait "$sampler"
		set -- $(log_percentiles "$work/pgb")
		tps=$(sed -n 's/^tps = \([0-9]*\)[.0-9]* .*/\1/p' "$work/pgbench.out")
		waits=$(psql -X -At -c "SELECT string_agg(format('%s %s%%', wait, share), ', ' ORDER BY share DESC)
			FROM (SELECT wait, round(100.0 * sum(n) / sum(sum(n)) OVER ())::int AS share FROM wait_sample
			       WHERE call = '$call' AND clients = $c GROUP BY wait) w WHERE share >= 1")
		printf '%-16s %7s  %10s  %6s  %6s  %s\n' "$call" "$c" "$tps" "$1" "$2" "$waits"
	done
done
