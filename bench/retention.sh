#!/bin/sh
# The retention benchmark of issue 12, in a throw-away PostgreSQL
# (pg_virtualenv, fsync on): load history of which a policy lets 1M rows go
# (690k runs over 100-400 days old, 310k of 400k offset records), then
# measure store_run, store_offsets and a listing (pgbench, the same scripts
# as bench/run.sh, all three at once) for --duration seconds without a
# prune, then for as long again from the moment CALL nilus.apply_retention()
# starts removing the 1M rows (the calls that end while it runs are the
# "during" figures), then again after it; print p50/p99 of each and the
# ratio of p99 during the prune to p99 before it.
#
#   bench/retention.sh [--duration S] [--clients N] [--batch N] [--pace P] [--old-runs N] [--old-offsets N]
#
# Defaults: 60 s per measurement, 2 pgbench clients per call (6 sessions
# beside the prune on 2 cores), apply_retention's defaults (batch 1000,
# pace 0.5).
# Needs the extension installed (make install).
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
duration=60 clients=2 batch=1000 pace=0.5 old_runs=690000 old_offsets=400000
read_options retention.sh "duration clients batch pace old-runs old-offsets" "$@"
in_bench_cluster "$0" "$@"

bench=$PWD/bench
work=$(mktemp -d /tmp/nilus-retention.XXXXXX)
prune_pid=
cleanup() {
	[ -n "$prune_pid" ] && kill "$prune_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

create_bench_database nilus_retention
token=$(psql -X -At -c "SELECT nilus.create_token('large', ARRAY['read', 'runtime'], 'bench-retention')")

say "loading $old_runs old and 50000 young runs, $old_offsets offset records"
psql -X -q -v ON_ERROR_STOP=1 -v tenant=large -v old_runs="$old_runs" -v young_runs=50000 \
	-v old_offsets="$old_offsets" -v resources=20 -f "$bench/sql/gen_retention.sql" >/dev/null
psql -X -q -c 'VACUUM (ANALYZE)' -c CHECKPOINT
psql -X -q -c "SELECT nilus.set_retention('large', runs => '90 days', cdc_offsets => '90 days')" >/dev/null
doomed=$(psql -X -At -c "SELECT (SELECT count(*) FROM nilus.pipeline_run WHERE started_at < now() - interval '90 days')
	+ (SELECT count(*) FROM nilus.cdc_offset o WHERE record_insert_ts < now() - interval '90 days'
	   AND EXISTS (SELECT 1 FROM nilus.cdc_offset_latest l WHERE l.tenant = o.tenant AND l.pipeline_name = o.pipeline_name
	               AND l.offset_key = o.offset_key AND l.record_insert_seq > o.record_insert_seq))")

# The three calls at once, each with its own clients, for $duration seconds.
run_calls() {
	phase=$1 pids=
	for call in store_run store_offsets pipelines; do
		PGUSER=$api_role PGPASSWORD=$api_password pgbench -n -M prepared -c "$clients" -j 1 \
			-f "$bench/pgbench/$call.sql" -D token="$token" -D tenant=large -D resources=20 -D writers=64 \
			-T "$duration" --log --log-prefix="$work/log-$phase-$call" >"$work/$phase-$call.out" 2>&1 &
		pids="$pids $!"
	done
	wait $pids || true
	for call in store_run store_offsets pipelines; do
		grep -q '^number of failed transactions: 0' "$work/$phase-$call.out" ||
			{ echo "retention.sh: pgbench $call failed:" >&2; tail -3 "$work/$phase-$call.out" >&2; exit 1; }
	done
}

# Appends "phase call p50 p99 calls" to $work/results for the calls of a
# phase that ended between the epoch seconds from and until (pgbench's log
# has a call's end in fields 5 and 6, seconds and microseconds).
summarize() {
	phase=$1 from=$2 until=$3
	for call in store_run store_offsets pipelines; do
		cat "$work/log-$phase-$call".* | awk -v from="$from" -v until="$until" \
			'$5 + $6 / 1e6 >= from && $5 + $6 / 1e6 <= until' >"$work/window-$phase-$call.0"
		set -- $(log_percentiles "$work/window-$phase-$call")
		echo "$phase $call $1 $2 $(wc -l <"$work/window-$phase-$call.0")" >>"$work/results"
	done
}

say "without a prune: ${duration}s"
run_calls before
summarize before 0 9999999999
say "from the start of CALL nilus.apply_retention(batch_size => $batch, pace => $pace), $doomed rows to remove: ${duration}s"
(
	date +%s.%N >"$work/prune.start"
	psql -X -q -v ON_ERROR_STOP=1 -c "CALL nilus.apply_retention(batch_size => $batch, pace => $pace)" 2>"$work/prune.notices"
	date +%s.%N >"$work/prune.end"
) &
prune_pid=$!
run_calls during
say "waiting for the prune to end"
wait "$prune_pid"
prune_pid=
prune_start=$(cat "$work/prune.start") prune_end=$(cat "$work/prune.end")
summarize during "$prune_start" "$prune_end"
say "after the prune: ${duration}s"
run_calls after
summarize after 0 9999999999

prune_seconds=$(awk -v a="$prune_end" -v b="$prune_start" 'BEGIN { print a - b }')
removed=$(psql -X -At -c "SELECT sum(last_removed) FROM nilus.retention_status()")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "nilus retention benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($cpu)"
echo "PostgreSQL $(psql -X -At -c 'SHOW server_version'), fsync $(psql -X -At -c 'SHOW fsync')," \
	"synchronous_commit $(psql -X -At -c 'SHOW synchronous_commit'), shared_buffers $(psql -X -At -c 'SHOW shared_buffers')"
printf 'prune: %s rows removed in %.1f s (batch %s, pace %s):\n' "$removed" "$prune_seconds" "$batch" "$pace"
sed 's/^NOTICE:  nilus retention: /  /' "$work/prune.notices"
echo "pgbench -M prepared -c $clients per call, the three calls at once, ${duration}s per phase; latency ms"
printf '%-14s %16s %16s %16s %7s %13s\n' call "before p50/p99" "during p50/p99" "after p50/p99" "during" "p99 ratios"
for call in store_run store_offsets pipelines; do
	f() { awk -v p="$1" -v c="$call" -v k="$2" '$1 == p && $2 == c { print $k }' "$work/results"; }
	printf '%-14s %16s %16s %16s %7s %13s\n' "$call" "$(f before 3)/$(f before 4)" "$(f during 3)/$(f during 4)" \
		"$(f after 3)/$(f after 4)" "$(f during 5)" \
		"$(awk -v d="$(f during 4)" -v b="$(f before 4)" -v a="$(f after 4)" 'BEGIN { printf "%.2f / %.2f", d / b, d / a }')"
done
echo "(during: the calls that ended while the prune ran; p99 ratios: during / before, during / after;"
echo " store_run: one pgbench transaction is a run's two posts; pipelines: list_pipelines page 1 with its total)"
