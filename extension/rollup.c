/*
 * rollup.c: keeps the run rollups equal to nilus.pipeline_run: per resource
 * by second, minute, hour and day; per tenant and per resource and user by
 * minute, hour and day; per user by minute and hour.
 *
 * A trigger rather than code in store_run, so that every write path (the
 * runtime's posts, an operator's correcting UPDATE, a retention DELETE)
 * keeps them right.  An update that leaves the run in the same rows with
 * its duration unchanged or newly given (the finishing post) adds the
 * difference; any other first takes the old row's contribution out, then
 * puts the new one in.  Every row is split in shards by backend (MY_SHARD):
 * a writer adds to and subtracts from its own shard, readers add the shards
 * up.  Counts and sums are exact under all of this; a maximum is not: a
 * shard's duration_max is always the duration of a run still in the bucket,
 * the greatest of them the bucket's maximum, so when a run leaves, the
 * shards holding its duration take the bucket's maximum recomputed (the
 * second's from its runs, the minute's from its seconds, the hour's from its
 * minutes, the day's from its hours).  One statement writes a run's rows of
 * every grain in one table family (resource; tenant; user, and resource and
 * user): three statements a new run, whatever the number of grains and
 * tables.  Every statement takes rows finest first, table by table, so that
 * writers do not deadlock: PostgreSQL runs the main statement first, then
 * the WITH statements last to first, so the finest grain of the first table
 * is the main statement and the coarsest of the last the first WITH.  The
 * statements are planned once, generically: the plan does not depend on the
 * values.
 */
#include "postgres.h"

#include "compat.h"
#include "rollup_pause.h"
#include "spi.h"
#include "time_range.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

/*
 * Resource, tenant and user rows are split in shards by backend: each
 * running backend writes the shard of its slot, so concurrent writers of
 * one resource or tenant never wait for one another's rows (each holds its
 * rows until its commit).  A bucket has a row per slot that wrote it; slots
 * are reused, so about as many as connections were open at once (the
 * shim's pool).
 */
#define MY_SHARD ((int16) (NILUS_MY_BACKEND_SLOT % (PG_INT16_MAX + 1)))

/*
 * The statements' text for one rollup table, of any grain: bucket is the
 * parameter holding the row's bucket.
 */
#define ADD_COUNTS(table, key, key_values, bucket) \
	"INSERT INTO " table " AS r (tenant, " key "bucket, shard, runs, succeeded, failed) " \
	"VALUES ($1, " key_values bucket ", $3, $4, $5, $6) " \
	"ON CONFLICT (tenant, " key "bucket, shard) DO UPDATE SET " \
	"runs = r.runs + EXCLUDED.runs, succeeded = r.succeeded + EXCLUDED.succeeded, " \
	"failed = r.failed + EXCLUDED.failed"
#define ADD_TENANT_COUNTS(table, bucket) ADD_COUNTS(table, "", "", bucket)
/* $14 the shard; a null $10 leaves the maximum as it is. */
#define ADD_TO_RESOURCE(table, bucket) \
	"INSERT INTO " table " AS r " \
	"(tenant, resource_id, bucket, shard, runs, succeeded, failed, durations, duration_sum, duration_max) " \
	"VALUES ($1, $2, " bucket ", $14, $4, $5, $6, $7, $8::numeric - $9::numeric, $10) " \
	"ON CONFLICT (tenant, resource_id, bucket, shard) DO UPDATE SET " \
	"runs = r.runs + EXCLUDED.runs, succeeded = r.succeeded + EXCLUDED.succeeded, " \
	"failed = r.failed + EXCLUDED.failed, durations = r.durations + EXCLUDED.durations, " \
	"duration_sum = r.duration_sum + EXCLUDED.duration_sum, " \
	"duration_max = greatest(r.duration_max, EXCLUDED.duration_max)"
/* A user row: $9 the user; a row of a resource and user: $10 the resource. */
#define ADD_USER_COUNTS(table, bucket) ADD_COUNTS(table, "run_as_user, ", "$9, ", bucket)
#define ADD_RESOURCE_USER_COUNTS(table, bucket) \
	ADD_COUNTS(table, "resource_id, run_as_user, ", "$10, $9, ", bucket)
/*
 * The shards holding duration $3 in bucket $4 take the bucket's maximum,
 * max_query, once a run of that duration has left it.
 */
#define NEW_MAXIMUM(table, max_query) \
	{ \
		"UPDATE " table " SET duration_max = (" max_query ") " \
		"WHERE tenant = $1 AND resource_id = $2 AND bucket = $4 AND duration_max = $3", \
		4, {TEXTOID, TEXTOID, FLOAT8OID, TIMESTAMPTZOID}, \
		.generic = true \
	}

typedef struct RunContribution
{
	Datum		tenant;
	Datum		resource_id;
	Datum		run_as_user;
	bool		has_user;
	TimestampTz second;			/* UTC second */
	TimestampTz minute;			/* UTC minute */
	TimestampTz bucket;			/* UTC hour */
	TimestampTz day;			/* UTC day */
	bool		succeeded;		/* finished, successfully */
	bool		failed;			/* finished, unsuccessfully */
	bool		has_duration;
	double		duration;
} RunContribution;

static Datum
column(HeapTuple row, TupleDesc desc, const char *name, bool *isnull)
{
	return SPI_getbinval(row, desc, SPI_fnumber(desc, name), isnull);
}

static RunContribution
contribution_of(HeapTuple row, TupleDesc desc)
{
	RunContribution c;
	bool		isnull;
	Datum		outcome;
	Datum		duration;

	c.tenant = column(row, desc, "tenant", &isnull);
	c.resource_id = column(row, desc, "resource_id", &isnull);
	c.run_as_user = column(row, desc, "run_as_user", &isnull);
	c.has_user = !isnull;
	c.second = nilus_floor(DatumGetTimestampTz(column(row, desc, "started_at", &isnull)),
						   USECS_PER_SEC);
	c.minute = nilus_floor(c.second, USECS_PER_MINUTE);
	c.bucket = nilus_floor(c.minute, USECS_PER_HOUR);
	c.day = nilus_floor(c.bucket, USECS_PER_DAY);
	outcome = column(row, desc, "is_success", &isnull);
	c.succeeded = !isnull && DatumGetBool(outcome);
	c.failed = !isnull && !DatumGetBool(outcome);
	duration = column(row, desc, "duration_sec", &isnull);
	c.has_duration = (c.succeeded || c.failed) && !isnull;
	c.duration = c.has_duration ? DatumGetFloat8(duration) : 0;
	return c;
}

static bool
text_equal(Datum a, Datum b)
{
	return DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, a, b));
}

/* Do a and b count in the same rollup rows? */
static bool
same_rows(const RunContribution *a, const RunContribution *b)
{
	return text_equal(a->tenant, b->tenant) &&
		text_equal(a->resource_id, b->resource_id) &&
		a->has_user == b->has_user &&
		(!a->has_user || text_equal(a->run_as_user, b->run_as_user)) &&
		a->second == b->second;
}

static bool
same_contribution(const RunContribution *a, const RunContribution *b)
{
	return same_rows(a, b) && a->succeeded == b->succeeded && a->failed == b->failed &&
		a->has_duration == b->has_duration && a->duration == b->duration;
}

/*
 * Adds runs (1, -1 or 0) and the given changes of the counts to the tenant
 * rows of run c, and to its user's rows and its resource and user's rows
 * (one statement: users first, as fold_rollup_shards takes them); nothing
 * when all three are 0.
 */
static void
add_counts(const RunContribution *c, int64 runs, int64 succeeded, int64 failed)
{
	static NilusPlan tenant_counts = {
		"WITH day AS (" ADD_TENANT_COUNTS("nilus.run_rollup_tenant_day", "$8") "), "
		"hour AS (" ADD_TENANT_COUNTS("nilus.run_rollup_tenant", "$7") ") "
		ADD_TENANT_COUNTS("nilus.run_rollup_tenant_minute", "$2"),
		8, {TEXTOID, TIMESTAMPTZOID, INT2OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID},
		.generic = true
	};
	static NilusPlan user_counts = {
		"WITH resource_user_day AS (" ADD_RESOURCE_USER_COUNTS("nilus.run_rollup_resource_user_day", "$8") "), "
		"resource_user_hour AS (" ADD_RESOURCE_USER_COUNTS("nilus.run_rollup_resource_user", "$7") "), "
		"resource_user_minute AS (" ADD_RESOURCE_USER_COUNTS("nilus.run_rollup_resource_user_minute", "$2") "), "
		"user_hour AS (" ADD_USER_COUNTS("nilus.run_rollup_user", "$7") ") "
		ADD_USER_COUNTS("nilus.run_rollup_user_minute", "$2"),
		10, {TEXTOID, TIMESTAMPTZOID, INT2OID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		TEXTOID, TEXTOID},
		.generic = true
	};
	Datum		values[10] = {
		c->tenant, TimestampTzGetDatum(c->minute), Int16GetDatum(MY_SHARD),
		Int64GetDatum(runs), Int64GetDatum(succeeded), Int64GetDatum(failed),
		TimestampTzGetDatum(c->bucket), TimestampTzGetDatum(c->day), c->run_as_user, c->resource_id
	};

	if (runs == 0 && succeeded == 0 && failed == 0)
		return;
	nilus_execute(&tenant_counts, values, NULL, false, 0);
	if (c->has_user)
		nilus_execute(&user_counts, values, NULL, false, 0);
}

/* Counts nothing: what a new run replaces, or a removed run leaves. */
static const RunContribution no_run;

/*
 * Adds plus and takes minus (no_run, or a run counted in the same rows with
 * no duration or the same one) out of this backend's shard of the resource
 * rows of run at, runs the change of their count.
 */
static void
add_to_resource(const RunContribution *at, const RunContribution *plus, const RunContribution *minus,
				int64 runs)
{
	static NilusPlan add = {
		"WITH day AS (" ADD_TO_RESOURCE("nilus.run_rollup_resource_day", "$13") "), "
		"hour AS (" ADD_TO_RESOURCE("nilus.run_rollup_resource", "$12") "), "
		"minute AS (" ADD_TO_RESOURCE("nilus.run_rollup_resource_minute", "$11") ") "
		ADD_TO_RESOURCE("nilus.run_rollup_resource_second", "$3"),
		14, {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID, INT8OID, FLOAT8OID,
		FLOAT8OID, FLOAT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT2OID},
		.generic = true
	};
	Datum		values[14] = {
		at->tenant, at->resource_id, TimestampTzGetDatum(at->second), Int64GetDatum(runs),
		Int64GetDatum(plus->succeeded - minus->succeeded), Int64GetDatum(plus->failed - minus->failed),
		Int64GetDatum(plus->has_duration - minus->has_duration),
		Float8GetDatum(plus->duration), Float8GetDatum(minus->duration), Float8GetDatum(plus->duration),
		TimestampTzGetDatum(at->minute), TimestampTzGetDatum(at->bucket), TimestampTzGetDatum(at->day),
		Int16GetDatum(MY_SHARD)
	};
	char		nulls[14] = "              ";

	nulls[9] = plus->has_duration ? ' ' : 'n';
	nilus_execute(&add, values, nulls, false, 0);
}

static void
remove_from_resource(const RunContribution *c)
{
	static NilusPlan second_maximum =
		NEW_MAXIMUM("nilus.run_rollup_resource_second",
					"SELECT max(duration_sec) FROM nilus.pipeline_run "
					"WHERE tenant = $1 AND resource_id = $2 AND started_at >= $4 "
					"AND started_at < $4 + interval '1 second' AND is_success IS NOT NULL");
	/* After the seconds: the minute's maximum is the greatest of its seconds' shards. */
	static NilusPlan minute_maximum =
		NEW_MAXIMUM("nilus.run_rollup_resource_minute",
					"SELECT max(duration_max) FROM nilus.run_rollup_resource_second "
					"WHERE tenant = $1 AND resource_id = $2 AND bucket >= $4 "
					"AND bucket < $4 + interval '1 minute'");
	static NilusPlan hour_maximum =
		NEW_MAXIMUM("nilus.run_rollup_resource",
					"SELECT max(duration_max) FROM nilus.run_rollup_resource_minute "
					"WHERE tenant = $1 AND resource_id = $2 AND bucket >= $4 "
					"AND bucket < $4 + interval '1 hour'");
	/* 24 hours, not a day: a UTC day whatever the session's zone. */
	static NilusPlan day_maximum =
		NEW_MAXIMUM("nilus.run_rollup_resource_day",
					"SELECT max(duration_max) FROM nilus.run_rollup_resource "
					"WHERE tenant = $1 AND resource_id = $2 AND bucket >= $4 "
					"AND bucket < $4 + interval '24 hours'");
	NilusPlan  *maxima[4] = {&second_maximum, &minute_maximum, &hour_maximum, &day_maximum};
	TimestampTz buckets[4] = {c->second, c->minute, c->bucket, c->day};
	Datum		values[4] = {c->tenant, c->resource_id, Float8GetDatum(c->duration), (Datum) 0};

	add_to_resource(c, &no_run, c, -1);
	if (!c->has_duration)
		return;
	for (int grain = 0; grain < lengthof(maxima); grain++)
	{
		values[3] = TimestampTzGetDatum(buckets[grain]);
		nilus_execute(maxima[grain], values, NULL, false, 0);
	}
}

static void
add_run(const RunContribution *c)
{
	add_to_resource(c, c, &no_run, 1);
	add_counts(c, 1, c->succeeded, c->failed);
}

static void
remove_run(const RunContribution *c)
{
	remove_from_resource(c);
	add_counts(c, -1, -c->succeeded, -c->failed);
}

/*
 * A run that stays in its rows (the finishing post, most corrections) moves
 * their counts by the difference.  Its resource rows too, unless its old
 * duration changes: the shard that holds it as its maximum must give it up.
 */
static void
change_run(const RunContribution *old, const RunContribution *new)
{
	if (!same_rows(old, new))
	{
		remove_run(old);
		add_run(new);
		return;
	}
	if (!old->has_duration ||
		(new->has_duration && float8_cmp_internal(new->duration, old->duration) == 0))
		add_to_resource(new, new, old, 0);
	else
	{
		remove_from_resource(old);
		add_to_resource(new, new, &no_run, 1);
	}
	add_counts(new, 0, new->succeeded - old->succeeded, new->failed - old->failed);
}

PG_FUNCTION_INFO_V1(nilus_pipeline_run_rollup);

Datum
nilus_pipeline_run_rollup(PG_FUNCTION_ARGS)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	RunContribution old_run;
	RunContribution new_run;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigger->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigger->tg_event))
		elog(ERROR, "nilus: pipeline_run_rollup must be an AFTER ... FOR EACH ROW trigger");
	desc = trigger->tg_relation->rd_att;
	if (nilus_rollup_trigger_paused())
		return PointerGetDatum(NULL);

	nilus_spi_connect();
	if (TRIGGER_FIRED_BY_INSERT(trigger->tg_event))
	{
		new_run = contribution_of(trigger->tg_trigtuple, desc);
		add_run(&new_run);
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigger->tg_event))
	{
		old_run = contribution_of(trigger->tg_trigtuple, desc);
		remove_run(&old_run);
	}
	else
	{
		old_run = contribution_of(trigger->tg_trigtuple, desc);
		new_run = contribution_of(trigger->tg_newtuple, desc);
		if (!same_contribution(&old_run, &new_run))
			change_run(&old_run, &new_run);
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}
