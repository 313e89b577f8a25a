/*
 * retention.c: removes what the retention policies allow, one bounded batch
 * per call (nilus.prune_batch).  How often the worker calls it is
 * nilus.retention_interval (settings.c).
 *
 * nilus.apply_retention() (a procedure in the install script) calls a batch
 * per transaction, so no lock or snapshot is held for long and the API's
 * reads and writes, which touch recent rows, go on beside it.
 *
 * Runs are removed oldest first with the rollup trigger held off for the
 * statement; the same statement takes the removed runs out of the rollups
 * by second, minute, hour and day (one row update per bucket, not per run), counts
 * and sums by subtraction, which stays exact under concurrent writers.  Maxima are
 * recomputed afterwards for the buckets touched, once their rows are locked
 * (a second's from its runs, a minute's from its seconds, an hour's from its
 * minutes, a day's from its hours), so a run written into such a bucket
 * meanwhile is counted.  Rollup rows are split in shards (rollup.c): the
 * removal goes to shard 0, every shard of a bucket takes its new maximum,
 * and a bucket whose locked shards sum to zero is removed whole.
 *
 * Never removed: the latest offset record of a key (what cdc_offset_latest
 * points at or beyond, read in the same snapshot; its rows only move
 * forward), the latest successful state of a pipeline, the newest
 * schema-history record of a pipeline.
 */
#include "postgres.h"

#include "append_only.h"
#include "args.h"
#include "errors.h"
#include "rollup_pause.h"
#include "spi.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/guc.h"

/* The kinds of data a policy limits, in the order of nilus.retention_work(). */
typedef enum RetentionKind
{
	KIND_RUNS, KIND_CDC_OFFSETS, KIND_STATE_VERSIONS, KIND_SCHEMA_HISTORY, KIND_COUNT
} RetentionKind;

static const char *const kind_names[KIND_COUNT] = {
	"runs", "cdc_offsets", "state_versions", "schema_history"
};

/* One column of a policy row: the cutoff timestamp, or the version count. */
static NilusPlan policy_limit = {
	"SELECT now() - p.runs, now() - p.cdc_offsets, p.state_versions, now() - p.schema_history "
	"FROM nilus.effective_retention($1) p",
	1, {TEXTOID}
};

/*
 * The runs and their rollups: $1 tenant, $2 cutoff, $3 batch size.  Hours
 * as the trigger buckets them (UTC), and the removal's contribution exactly
 * as the trigger would have taken it out run by run.
 */
#define RUN_BUCKETS \
	"SELECT resource_id, run_as_user, date_trunc('second', started_at, 'UTC') AS second, " \
	"       date_trunc('minute', started_at, 'UTC') AS minute, " \
	"       date_trunc('hour', started_at, 'UTC') AS hour, " \
	"       date_trunc('day', started_at, 'UTC') AS day, (is_success IS TRUE)::int AS succeeded, " \
	"       (is_success IS FALSE)::int AS failed, " \
	"       (is_success IS NOT NULL AND duration_sec IS NOT NULL)::int AS durations, " \
	"       CASE WHEN is_success IS NOT NULL THEN coalesce(duration_sec::numeric, 0) ELSE 0 END AS duration_sum " \
	"FROM gone"
/*
 * The removed runs of buckets (per key and bucket) taken out of shard 0 of
 * a rollup; returns the keys and buckets touched.
 */
#define SUBTRACT(table, key, bucket, where, measures, negated, added) \
	"INSERT INTO " table " AS r (tenant, " key "bucket, shard, " measures ") " \
	"SELECT $1, " key bucket ", 0, " negated " FROM buckets " where \
	" GROUP BY " key bucket " " \
	"ON CONFLICT (tenant, " key "bucket, shard) DO UPDATE SET " added " " \
	"RETURNING " key "r.bucket"
#define COUNTS "runs, succeeded, failed"
#define NEGATED_COUNTS "-count(*), -sum(succeeded), -sum(failed)"
#define ADDED_COUNTS \
	"runs = r.runs + EXCLUDED.runs, succeeded = r.succeeded + EXCLUDED.succeeded, " \
	"failed = r.failed + EXCLUDED.failed"
#define SUBTRACT_COUNTS(table, key, bucket, where) \
	SUBTRACT(table, key, bucket, where, COUNTS, NEGATED_COUNTS, ADDED_COUNTS)
#define SUBTRACT_RESOURCE(table, bucket) \
	SUBTRACT(table, "resource_id, ", bucket, "", COUNTS ", durations, duration_sum", \
			 NEGATED_COUNTS ", -sum(durations), -sum(duration_sum)", \
			 ADDED_COUNTS ", durations = r.durations + EXCLUDED.durations, " \
			 "duration_sum = r.duration_sum + EXCLUDED.duration_sum")

#define SUBTRACT_RESOURCE_USER(table, bucket) \
	SUBTRACT_COUNTS(table, "resource_id, run_as_user, ", bucket, "WHERE run_as_user IS NOT NULL")
/* The rows of resources and users a SUBTRACT_RESOURCE_USER touched: resource ids, users, buckets. */
#define TOUCHED_PAIRS(touched) \
	"(SELECT array_agg(resource_id) FROM " touched "), (SELECT array_agg(run_as_user) FROM " touched "), " \
	"(SELECT array_agg(bucket) FROM " touched ")"

/*
 * Returns the count removed, then the resource rows touched (hours and
 * days: resource ids and buckets), the tenant hours and days, the user
 * rows and the rows of resources and users touched, for the statements that
 * follow (enum RemovedRunsColumn).
 */
static NilusPlan remove_runs = {
	"WITH doomed AS (SELECT run_id FROM nilus.pipeline_run WHERE tenant = $1 AND started_at < $2 "
	"                ORDER BY started_at, run_id LIMIT $3), "
	"gone AS (DELETE FROM nilus.pipeline_run r USING doomed d "
	"         WHERE r.tenant = $1 AND r.run_id = d.run_id AND r.started_at < $2 RETURNING r.*), "
	"buckets AS (" RUN_BUCKETS "), "
	"resource_seconds AS (" SUBTRACT_RESOURCE("nilus.run_rollup_resource_second", "second") "), "
	"resource_minutes AS (" SUBTRACT_RESOURCE("nilus.run_rollup_resource_minute", "minute") "), "
	"resource_hours AS (" SUBTRACT_RESOURCE("nilus.run_rollup_resource", "hour") "), "
	"resource_days AS (" SUBTRACT_RESOURCE("nilus.run_rollup_resource_day", "day") "), "
	"tenant_minutes AS (" SUBTRACT_COUNTS("nilus.run_rollup_tenant_minute", "", "minute", "") "), "
	"tenant_hours AS (" SUBTRACT_COUNTS("nilus.run_rollup_tenant", "", "hour", "") "), "
	"tenant_days AS (" SUBTRACT_COUNTS("nilus.run_rollup_tenant_day", "", "day", "") "), "
	"user_minutes AS (" SUBTRACT_COUNTS("nilus.run_rollup_user_minute", "run_as_user, ", "minute",
										"WHERE run_as_user IS NOT NULL") "), "
	"user_hours AS (" SUBTRACT_COUNTS("nilus.run_rollup_user", "run_as_user, ", "hour",
									  "WHERE run_as_user IS NOT NULL") "), "
	"resource_user_minutes AS (" SUBTRACT_RESOURCE_USER("nilus.run_rollup_resource_user_minute", "minute") "), "
	"resource_user_hours AS (" SUBTRACT_RESOURCE_USER("nilus.run_rollup_resource_user", "hour") "), "
	"resource_user_days AS (" SUBTRACT_RESOURCE_USER("nilus.run_rollup_resource_user_day", "day") ") "
	"SELECT (SELECT count(*) FROM gone), "
	"       (SELECT array_agg(resource_id) FROM resource_hours), (SELECT array_agg(bucket) FROM resource_hours), "
	"       (SELECT array_agg(resource_id) FROM resource_days), (SELECT array_agg(bucket) FROM resource_days), "
	"       (SELECT array_agg(bucket) FROM tenant_hours), (SELECT array_agg(bucket) FROM tenant_days), "
	"       (SELECT array_agg(run_as_user) FROM user_hours), (SELECT array_agg(bucket) FROM user_hours), "
	"       (SELECT array_agg(resource_id) FROM resource_minutes), (SELECT array_agg(bucket) FROM resource_minutes), "
	"       (SELECT array_agg(bucket) FROM tenant_minutes), "
	"       (SELECT array_agg(run_as_user) FROM user_minutes), (SELECT array_agg(bucket) FROM user_minutes), "
	"       (SELECT array_agg(resource_id) FROM resource_seconds), (SELECT array_agg(bucket) FROM resource_seconds), "
	"       " TOUCHED_PAIRS("resource_user_minutes") ", " TOUCHED_PAIRS("resource_user_hours") ", "
	"       " TOUCHED_PAIRS("resource_user_days"),
	3, {TEXTOID, TIMESTAMPTZOID, INT4OID}
};

/* $1 tenant, $2 resource ids, $3 buckets: the rows remove_runs touched, as r. */
#define TOUCHED_RESOURCE_ROWS \
	"unnest($2::text[], $3::timestamptz[]) AS a(resource_id, bucket) " \
	"WHERE r.tenant = $1 AND r.resource_id = a.resource_id AND r.bucket = a.bucket"
#define RESOURCE_ROWS_PLAN(sql) {sql, 3, {TEXTOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID}}

/* Seconds first, then minutes, hours: a bucket's maximum is the greatest of its parts'. */
static NilusPlan second_maxima = RESOURCE_ROWS_PLAN(
	"UPDATE nilus.run_rollup_resource_second r SET duration_max = "
	"  (SELECT max(p.duration_sec) FROM nilus.pipeline_run p WHERE p.tenant = r.tenant "
	"   AND p.resource_id = r.resource_id AND p.started_at >= r.bucket "
	"   AND p.started_at < r.bucket + interval '1 second' AND p.is_success IS NOT NULL) "
	"FROM " TOUCHED_RESOURCE_ROWS);
/* Every shard of a bucket takes the greatest maximum of its finer buckets' shards. */
#define MAXIMA_FROM(table, finer, width) \
	RESOURCE_ROWS_PLAN( \
	"UPDATE " table " r SET duration_max = " \
	"  (SELECT max(f.duration_max) FROM " finer " f WHERE f.tenant = r.tenant " \
	"   AND f.resource_id = r.resource_id AND f.bucket >= r.bucket " \
	"   AND f.bucket < r.bucket + interval '" width "') " \
	"FROM " TOUCHED_RESOURCE_ROWS)
static NilusPlan minute_maxima =
	MAXIMA_FROM("nilus.run_rollup_resource_minute", "nilus.run_rollup_resource_second", "1 minute");
static NilusPlan hour_maxima =
	MAXIMA_FROM("nilus.run_rollup_resource", "nilus.run_rollup_resource_minute", "1 hour");
static NilusPlan day_maxima =
	MAXIMA_FROM("nilus.run_rollup_resource_day", "nilus.run_rollup_resource", "24 hours");

/*
 * The shards of the buckets touched, locked (so the values summed are the
 * ones removed), and removed where they add up to nothing.  Shards written
 * after the lock are not among them and keep what they hold.  key: the
 * columns besides the bucket; touched: which of the table's rows.
 */
#define REMOVE_EMPTY_SHARDS_SQL(table, key, touched, key_match) \
	"WITH locked AS (SELECT " key "bucket, shard, runs, succeeded, failed FROM " table \
	"                WHERE tenant = $1 AND " touched " FOR UPDATE), " \
	"empty AS (SELECT " key "bucket FROM locked GROUP BY " key "bucket " \
	"          HAVING sum(runs) = 0 AND sum(succeeded) = 0 AND sum(failed) = 0) " \
	"DELETE FROM " table " t USING locked l, empty e " \
	"WHERE t.tenant = $1 AND t.bucket = l.bucket AND t.shard = l.shard AND e.bucket = l.bucket" key_match
#define REMOVE_EMPTY_SHARDS(table, key, touched, key_match) \
	RESOURCE_ROWS_PLAN(REMOVE_EMPTY_SHARDS_SQL(table, key, touched, key_match))

/* Tenant rows have no key but the bucket: their $2 is NULL, unused. */
static NilusPlan empty_tenant_hours =
	REMOVE_EMPTY_SHARDS("nilus.run_rollup_tenant", "", "bucket = ANY ($3)", "");
static NilusPlan empty_tenant_days =
	REMOVE_EMPTY_SHARDS("nilus.run_rollup_tenant_day", "", "bucket = ANY ($3)", "");
static NilusPlan empty_tenant_minutes =
	REMOVE_EMPTY_SHARDS("nilus.run_rollup_tenant_minute", "", "bucket = ANY ($3)", "");
/* A key column of the rows deleted, the locked rows and the empty buckets alike. */
#define SAME_KEY(key) " AND t." key " = l." key " AND e." key " = l." key
/* Rows of a key besides the bucket: resource_id or run_as_user, $2. */
#define REMOVE_EMPTY_KEYED_SHARDS(table, key) \
	REMOVE_EMPTY_SHARDS(table, key ", ", \
						"(" key ", bucket) IN (SELECT * FROM unnest($2::text[], $3::timestamptz[]))", \
						SAME_KEY(key))
/* Rows of a resource and a user besides the bucket: $2 the resource ids, $4 the users. */
#define REMOVE_EMPTY_RESOURCE_USER_SHARDS(table) \
	{REMOVE_EMPTY_SHARDS_SQL(table, "resource_id, run_as_user, ", \
							 "(resource_id, run_as_user, bucket) IN " \
							 "(SELECT * FROM unnest($2::text[], $4::text[], $3::timestamptz[]))", \
							 SAME_KEY("resource_id") SAME_KEY("run_as_user")), \
	 4, {TEXTOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID}}
static NilusPlan empty_resource_user_minutes =
	REMOVE_EMPTY_RESOURCE_USER_SHARDS("nilus.run_rollup_resource_user_minute");
static NilusPlan empty_resource_user_hours = REMOVE_EMPTY_RESOURCE_USER_SHARDS("nilus.run_rollup_resource_user");
static NilusPlan empty_resource_user_days = REMOVE_EMPTY_RESOURCE_USER_SHARDS("nilus.run_rollup_resource_user_day");
static NilusPlan empty_user_hours = REMOVE_EMPTY_KEYED_SHARDS("nilus.run_rollup_user", "run_as_user");
static NilusPlan empty_user_minutes = REMOVE_EMPTY_KEYED_SHARDS("nilus.run_rollup_user_minute", "run_as_user");
static NilusPlan empty_seconds = REMOVE_EMPTY_KEYED_SHARDS("nilus.run_rollup_resource_second", "resource_id");
static NilusPlan empty_minutes = REMOVE_EMPTY_KEYED_SHARDS("nilus.run_rollup_resource_minute", "resource_id");
static NilusPlan empty_hours = REMOVE_EMPTY_KEYED_SHARDS("nilus.run_rollup_resource", "resource_id");
static NilusPlan empty_days = REMOVE_EMPTY_KEYED_SHARDS("nilus.run_rollup_resource_day", "resource_id");

/*
 * Offset records older than the cutoff whose key has a later record: $1
 * tenant, $2 cutoff, $3 batch size.  Oldest first, off the insert-time
 * index, each checked by a probe of its key's latest record: as a scalar
 * subquery, so that the planner cannot make it a join that reads every old
 * record for each batch.
 */
static NilusPlan remove_offsets = {
	"WITH doomed AS (SELECT o.id FROM nilus.cdc_offset o "
	"                WHERE o.tenant = $1 AND o.record_insert_ts < $2 "
	"                  AND (SELECT l.record_insert_seq FROM nilus.cdc_offset_latest l WHERE l.tenant = o.tenant "
	"                       AND l.pipeline_name = o.pipeline_name AND l.offset_key = o.offset_key) "
	"                      > o.record_insert_seq "
	"                ORDER BY o.record_insert_ts LIMIT $3) "
	"DELETE FROM nilus.cdc_offset o USING doomed d WHERE o.tenant = $1 AND o.id = d.id",
	3, {TEXTOID, TIMESTAMPTZOID, INT4OID}
};

/*
 * Schema-history records older than the cutoff, but the newest of each
 * pipeline: $1 tenant, $2 cutoff, $3 batch size.  Schema history is small
 * in rows (large in bytes), so it is read in insertion order.
 */
static NilusPlan remove_history = {
	"WITH doomed AS (SELECT h.id FROM nilus.cdc_schema_history h "
	"                WHERE h.tenant = $1 AND h.record_insert_ts < $2 "
	"                  AND (SELECT max(n.record_insert_seq) FROM nilus.cdc_schema_history n "
	"                       WHERE n.tenant = h.tenant AND n.pipeline_name = h.pipeline_name) "
	"                      > h.record_insert_seq "
	"                ORDER BY h.record_insert_seq LIMIT $3) "
	"DELETE FROM nilus.cdc_schema_history h USING doomed d WHERE h.tenant = $1 AND h.id = d.id",
	3, {TEXTOID, TIMESTAMPTZOID, INT4OID}
};

/*
 * State versions beyond the $2 newest of each pipeline, not counting its
 * latest successful one, which stays: $1 tenant, $3 batch size.  A version
 * stored meanwhile is newer than any of these, so none of them can become
 * the latest successful one.
 */
static NilusPlan remove_states = {
	"WITH doomed AS (SELECT h.pipeline_name, s.version FROM nilus.pipeline_state_head h "
	"  LEFT JOIN LATERAL (SELECT version FROM nilus.pipeline_state "
	"                     WHERE tenant = h.tenant AND pipeline_name = h.pipeline_name AND is_success "
	"                     ORDER BY version DESC LIMIT 1) ok ON true "
	"  CROSS JOIN LATERAL (SELECT version FROM nilus.pipeline_state "
	"                      WHERE tenant = h.tenant AND pipeline_name = h.pipeline_name "
	"                        AND version IS DISTINCT FROM ok.version "
	"                      ORDER BY version DESC OFFSET $2 LIMIT 1) newest_removed "
	"  CROSS JOIN LATERAL (SELECT version FROM nilus.pipeline_state "
	"                      WHERE tenant = h.tenant AND pipeline_name = h.pipeline_name "
	"                        AND version <= newest_removed.version AND version IS DISTINCT FROM ok.version) s "
	"  WHERE h.tenant = $1 LIMIT $3) "
	"DELETE FROM nilus.pipeline_state s USING doomed d "
	"WHERE s.tenant = $1 AND s.pipeline_name = d.pipeline_name AND s.version = d.version",
	3, {TEXTOID, INT4OID, INT4OID}
};

/* $1 tenant, $2 kind, $3 the apply's start, $4 rows removed by this batch. */
static NilusPlan record_progress = {
	"INSERT INTO nilus.retention_progress AS p "
	"  (tenant, kind, run_started_at, last_pruned_at, last_removed, total_removed) "
	"VALUES ($1, $2, $3, now(), $4, $4) "
	"ON CONFLICT (tenant, kind) DO UPDATE SET last_pruned_at = EXCLUDED.last_pruned_at, "
	"  last_removed = CASE WHEN p.run_started_at = EXCLUDED.run_started_at "
	"                      THEN p.last_removed + EXCLUDED.last_removed ELSE EXCLUDED.last_removed END, "
	"  run_started_at = EXCLUDED.run_started_at, total_removed = p.total_removed + EXCLUDED.total_removed",
	4, {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID}
};

/* remove_runs' result columns: the count, then the keys and buckets touched per rollup. */
enum RemovedRunsColumn
{
	NO_KEY = 0,
	RUNS_REMOVED = 1,
	RESOURCE_HOUR_IDS, RESOURCE_HOURS, RESOURCE_DAY_IDS, RESOURCE_DAYS,
	TENANT_HOURS, TENANT_DAYS, USER_HOUR_NAMES, USER_HOURS,
	RESOURCE_MINUTE_IDS, RESOURCE_MINUTES, TENANT_MINUTES, USER_MINUTE_NAMES, USER_MINUTES,
	RESOURCE_SECOND_IDS, RESOURCE_SECONDS,
	RESOURCE_USER_MINUTE_IDS, RESOURCE_USER_MINUTE_NAMES, RESOURCE_USER_MINUTES,
	RESOURCE_USER_HOUR_IDS, RESOURCE_USER_HOUR_NAMES, RESOURCE_USER_HOURS,
	RESOURCE_USER_DAY_IDS, RESOURCE_USER_DAY_NAMES, RESOURCE_USER_DAYS
};

/* Sets a statement's key parameter from a remove_runs column, unless NO_KEY (then null). */
static void
touched_keys(HeapTuple touched, TupleDesc desc, enum RemovedRunsColumn keys, Datum *value, char *null)
{
	bool		isnull;

	if (keys == NO_KEY)
		return;
	*value = SPI_getbinval(touched, desc, keys, &isnull);
	*null = ' ';
}

/*
 * Runs the statement on the rows of a rollup that remove_runs touched, if
 * any: $2 their keys, $3 their buckets, $4 their second keys (resource and
 * user rows: the users).
 */
static void
on_touched_pairs(NilusPlan *plan, Datum tenant, HeapTuple touched, TupleDesc desc,
				 enum RemovedRunsColumn keys, enum RemovedRunsColumn buckets,
				 enum RemovedRunsColumn second_keys)
{
	Datum		values[4] = {tenant, (Datum) 0, (Datum) 0, (Datum) 0};
	char		nulls[4] = {' ', 'n', ' ', 'n'};
	bool		isnull;

	values[2] = SPI_getbinval(touched, desc, buckets, &isnull);
	if (isnull)
		return;
	touched_keys(touched, desc, keys, &values[1], &nulls[1]);
	touched_keys(touched, desc, second_keys, &values[3], &nulls[3]);
	nilus_execute(plan, values, nulls, false, 0);
}

static void
on_touched_rows(NilusPlan *plan, Datum tenant, HeapTuple touched, TupleDesc desc,
				enum RemovedRunsColumn keys, enum RemovedRunsColumn buckets)
{
	on_touched_pairs(plan, tenant, touched, desc, keys, buckets, NO_KEY);
}

static int64
prune_runs(Datum tenant, Datum cutoff, Datum batch_size)
{
	Datum		values[3] = {tenant, cutoff, batch_size};
	HeapTuple	touched;
	TupleDesc	desc;
	bool		isnull;

	nilus_execute_without_rollup_trigger(&remove_runs, values, NULL);
	touched = SPI_copytuple(SPI_tuptable->vals[0]);
	desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
	on_touched_rows(&second_maxima, tenant, touched, desc, RESOURCE_SECOND_IDS, RESOURCE_SECONDS);
	on_touched_rows(&minute_maxima, tenant, touched, desc, RESOURCE_MINUTE_IDS, RESOURCE_MINUTES);
	on_touched_rows(&hour_maxima, tenant, touched, desc, RESOURCE_HOUR_IDS, RESOURCE_HOURS);
	on_touched_rows(&day_maxima, tenant, touched, desc, RESOURCE_DAY_IDS, RESOURCE_DAYS);
	on_touched_rows(&empty_seconds, tenant, touched, desc, RESOURCE_SECOND_IDS, RESOURCE_SECONDS);
	on_touched_rows(&empty_minutes, tenant, touched, desc, RESOURCE_MINUTE_IDS, RESOURCE_MINUTES);
	on_touched_rows(&empty_hours, tenant, touched, desc, RESOURCE_HOUR_IDS, RESOURCE_HOURS);
	on_touched_rows(&empty_days, tenant, touched, desc, RESOURCE_DAY_IDS, RESOURCE_DAYS);
	on_touched_rows(&empty_tenant_minutes, tenant, touched, desc, NO_KEY, TENANT_MINUTES);
	on_touched_rows(&empty_tenant_hours, tenant, touched, desc, NO_KEY, TENANT_HOURS);
	on_touched_rows(&empty_tenant_days, tenant, touched, desc, NO_KEY, TENANT_DAYS);
	on_touched_rows(&empty_user_minutes, tenant, touched, desc, USER_MINUTE_NAMES, USER_MINUTES);
	on_touched_rows(&empty_user_hours, tenant, touched, desc, USER_HOUR_NAMES, USER_HOURS);
	on_touched_pairs(&empty_resource_user_minutes, tenant, touched, desc, RESOURCE_USER_MINUTE_IDS,
					 RESOURCE_USER_MINUTES, RESOURCE_USER_MINUTE_NAMES);
	on_touched_pairs(&empty_resource_user_hours, tenant, touched, desc, RESOURCE_USER_HOUR_IDS,
					 RESOURCE_USER_HOURS, RESOURCE_USER_HOUR_NAMES);
	on_touched_pairs(&empty_resource_user_days, tenant, touched, desc, RESOURCE_USER_DAY_IDS,
					 RESOURCE_USER_DAYS, RESOURCE_USER_DAY_NAMES);
	return DatumGetInt64(SPI_getbinval(touched, desc, RUNS_REMOVED, &isnull));
}

/* Offsets, schema history and state versions are append-only: retention deletes through the guard's seam. */
static int64
prune_rows(NilusPlan *plan, Datum tenant, Datum limit, Datum batch_size)
{
	Datum		values[3] = {tenant, limit, batch_size};

	nilus_execute_pruning(plan, values, NULL);
	return (int64) SPI_processed;
}

static RetentionKind
arg_kind(FunctionCallInfo fcinfo)
{
	char	   *kind = nilus_arg_text(fcinfo, "kind");

	for (int k = 0; kind != NULL && k < KIND_COUNT; k++)
		if (strcmp(kind, kind_names[k]) == 0)
			return (RetentionKind) k;
	nilus_invalid("kind", "kind must be runs, cdc_offsets, state_versions or schema_history, not \"%s\"",
				  kind ? kind : "");
	pg_unreachable();
}

PG_FUNCTION_INFO_V1(nilus_prune_batch);

/* (tenant, kind, batch_size, run_started_at) */
Datum
nilus_prune_batch(PG_FUNCTION_ARGS)
{
	char	   *tenant = nilus_arg_tenant(fcinfo);
	RetentionKind kind = arg_kind(fcinfo);
	int			batch_arg = nilus_argno(fcinfo, "batch_size");
	int			started_arg = nilus_argno(fcinfo, "run_started_at");
	int32		batch_size = PG_ARGISNULL(batch_arg) ? 0 : PG_GETARG_INT32(batch_arg);
	Datum		tenant_datum = CStringGetTextDatum(tenant);
	Datum		progress[4];
	Datum		limit;
	bool		unlimited;
	int64		removed = 0;
	int			guc_level;

	if (batch_size < 1 || batch_size > 1000000)
		nilus_invalid("batch_size", "batch_size must be an integer from 1 to 1000000");
	if (PG_ARGISNULL(started_arg))
		nilus_invalid("run_started_at", "run_started_at is required");

	/*
	 * On a Citus worker (the batch delegated there) the statements that read
	 * one table to correct another are nested executions to Citus; the
	 * tenant's rows of both are in colocated shards at hand.
	 */
	guc_level = NewGUCNestLevel();
	nilus_citus_allow_nested();
	nilus_spi_connect();
	nilus_execute(&policy_limit, &tenant_datum, NULL, true, 1);
	limit = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, kind + 1, &unlimited);
	if (!unlimited)
	{
		switch (kind)
		{
			case KIND_RUNS:
				removed = prune_runs(tenant_datum, limit, Int32GetDatum(batch_size));
				break;
			case KIND_CDC_OFFSETS:
				removed = prune_rows(&remove_offsets, tenant_datum, limit, Int32GetDatum(batch_size));
				break;
			case KIND_STATE_VERSIONS:
				removed = prune_rows(&remove_states, tenant_datum, limit, Int32GetDatum(batch_size));
				break;
			default:
				removed = prune_rows(&remove_history, tenant_datum, limit, Int32GetDatum(batch_size));
				break;
		}
	}
	progress[0] = tenant_datum;
	progress[1] = CStringGetTextDatum(kind_names[kind]);
	progress[2] = PG_GETARG_DATUM(started_arg);
	progress[3] = Int64GetDatum(removed);
	nilus_execute(&record_progress, progress, NULL, false, 0);
	SPI_finish();
	AtEOXact_GUC(true, guc_level);
	PG_RETURN_INT64(removed);
}
