#!/bin/sh
# Loads realistic Nilus Manager history into a database where the nilus
# extension is installed, through the extension's own write functions
# (store_run, store_offsets, store_schema_history), so every rollup is kept
# exactly as in production.  Connection from the libpq environment (PGHOST,
# PGPORT, PGUSER, PGDATABASE); the role must be allowed to write every tenant
# (a superuser, or one mapped to '*' in nilus.tenant_role).
#
#   bench/generate.sh [--large-runs N] [--small-runs N] [--tenants N] [--resources N]
#                     [--users N] [--days N] [--large-offsets N] [--small-offsets N]
#                     [--connectors N] [--connector-offsets N] [--schema-records N]
#                     [--jobs N] [--batch N]
#
# Tenants: "large" (--large-runs, default 5M), "small" (--small-runs, default
# 50k) and --tenants more ("tenant-01", ..., --small-runs each).  Each has
# --resources pipelines with runs spread over the last --days days, and
# --connectors CDC pipelines ("cdc-01", ...) with --connector-offsets offset
# records each (flushes of 3 keys) and --schema-records schema-history records.
# "large" also gets the pipelines "cdc-1k" and "cdc-1m" with --small-offsets
# and --large-offsets records (flushes of 4 keys), for the get_offsets scaling.
#
# Only the loading sessions run with synchronous_commit off; --jobs sessions
# load in parallel (the large tenant split in hour-aligned time ranges).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
export PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off"

psql_file() {
	file=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -f "$here/sql/$file" "$@" >/dev/null
}

# One unit of work, run by one of the parallel sessions (see the xargs below).
run_task() {
	kind=$1
	shift
	case $kind in
	runs)    # tenant runs range_start range_end resources users batch
		psql_file gen_runs.sql -v tenant="$1" -v runs="$2" -v range_start="$3" -v range_end="$4" \
			-v resources="$5" -v users="$6" -v batch="$7" ;;
	offsets) # tenant pipeline resource_id connector records keys
		psql_file gen_offsets.sql -v tenant="$1" -v pipeline="$2" -v resource_id="$3" \
			-v connector="$4" -v records="$5" -v keys="$6" ;;
	schema)  # tenant pipeline resource_id connector records
		psql_file gen_schema.sql -v tenant="$1" -v pipeline="$2" -v resource_id="$3" \
			-v connector="$4" -v records="$5" ;;
	*) echo "generate.sh: unknown task $kind" >&2; exit 2 ;;
	esac
}

if [ "${1:-}" = --task ]; then
	shift
	# 255 makes xargs stop handing out tasks: one failure fails the load.
	run_task "$@" || exit 255
	exit
fi

large_runs=5000000 small_runs=50000 tenants=3 resources=20 users=8 days=90
large_offsets=1000000 small_offsets=1000 connectors=4 connector_offsets=3000 schema_records=20
jobs=$(nproc) batch=2000
read_options generate.sh "large-runs small-runs tenants resources users days large-offsets small-offsets connectors connector-offsets schema-records jobs batch" "$@"

now=$(date -u +%s)
hours=$((days * 24))
# Ranges start on an hour so that parallel parts never share a rollup bucket.
first_hour=$((now / 3600 * 3600 - hours * 3600))
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# The time ranges of one tenant's runs: `parts` hour-aligned slices of the
# period, the last one ending now; runs shared out in proportion.
runs_tasks() {
	tenant=$1 runs=$2 parts=$3
	i=0
	while [ $i -lt $parts ]; do
		from=$((first_hour + hours * i / parts * 3600))
		to=$((first_hour + hours * (i + 1) / parts * 3600))
		[ $i -eq $((parts - 1)) ] && to=$now
		n=$((runs * (i + 1) / parts - runs * i / parts))
		echo "runs $tenant $n $(iso $from) $(iso $to) $resources $users $batch"
		i=$((i + 1))
	done
}

cdc_tasks() {
	tenant=$1
	c=1
	while [ $c -le $connectors ]; do
		nn=$(printf %02d $c)
		echo "offsets $tenant cdc-$nn cdc-workflow-$nn connector-$nn $connector_offsets 3"
		echo "schema $tenant cdc-$nn cdc-workflow-$nn connector-$nn $schema_records"
		c=$((c + 1))
	done
}

tenant_list() {
	echo small
	t=1
	while [ $t -le $tenants ]; do
		printf 'tenant-%02d\n' $t
		t=$((t + 1))
	done
}

# Longest first, in parts of a few minutes, so the parallel sessions finish
# together.
all_tasks() {
	runs_tasks large "$large_runs" $((jobs * 4)) | sed 1q
	echo "offsets large cdc-1m cdc-workflow-1m connector-1m $large_offsets 4"
	runs_tasks large "$large_runs" $((jobs * 4)) | sed 1d
	echo "offsets large cdc-1k cdc-workflow-1k connector-1k $small_offsets 4"
	cdc_tasks large
	for t in $(tenant_list); do
		runs_tasks "$t" "$small_runs" 1
		cdc_tasks "$t"
	done
}

started=$(date +%s)
echo "generate: $large_runs runs in tenant large, $small_runs in small and in each of $tenants more," \
	"$large_offsets + $small_offsets offset records, $jobs parallel sessions"
all_tasks | xargs -P "$jobs" -L 1 "$0" --task
loaded=$(date +%s)
psql -X -q -v ON_ERROR_STOP=1 -c 'VACUUM (ANALYZE) nilus.pipeline_run, nilus.run_rollup_resource,
	nilus.run_rollup_tenant, nilus.run_rollup_user, nilus.run_rollup_resource_second, nilus.run_rollup_resource_minute,
	nilus.run_rollup_tenant_minute, nilus.run_rollup_user_minute, nilus.run_rollup_resource_user_minute,
	nilus.run_rollup_resource_user, nilus.run_rollup_resource_user_day, nilus.cdc_offset, nilus.cdc_offset_latest,
	nilus.cdc_schema_history' -c CHECKPOINT
psql -X -q -c "SELECT tenant, count(*) AS runs, count(*) FILTER (WHERE is_success IS NULL) AS running,
	count(*) FILTER (WHERE NOT is_success) AS failed FROM nilus.pipeline_run GROUP BY 1 ORDER BY 2 DESC"
echo "generate: loaded in $((loaded - started)) s, vacuum and analyze $(($(date +%s) - loaded)) s"
