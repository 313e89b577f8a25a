/*
 * rollup.c: keeps the hourly run rollups equal to nilus.pipeline_run.
 *
 * A trigger rather than code in store_run, so that every write path (the
 * runtime's posts, an operator's correcting UPDATE, a retention DELETE)
 * keeps them right.  An update first takes the old row's contribution out,
 * then puts the new one in.  Counts and sums are exact under both; a maximum
 * is not, so when the value that leaves a bucket may have been its maximum,
 * the bucket's maximum is recomputed from its runs (one resource, one hour).
 */
#include "nilus.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/rel.h"

/* Tenant and user rows are split in shards by backend: see the install script. */
#define ROLLUP_SHARDS 4

typedef struct RunContribution
{
	Datum		tenant;
	Datum		resource_id;
	Datum		run_as_user;
	bool		has_user;
	TimestampTz bucket;
	bool		finished;
	bool		succeeded;
	bool		has_duration;
	double		duration;
} RunContribution;

TimestampTz
nilus_hour_floor(TimestampTz ts)
{
	TimestampTz rem = ts % USECS_PER_HOUR;

	if (TIMESTAMP_NOT_FINITE(ts))
		return ts;
	return rem < 0 ? ts - rem - USECS_PER_HOUR : ts - rem;
}

TimestampTz
nilus_hour_ceil(TimestampTz ts)
{
	TimestampTz floor = nilus_hour_floor(ts);

	return (floor == ts || TIMESTAMP_NOT_FINITE(ts)) ? ts : floor + USECS_PER_HOUR;
}

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
	c.bucket = nilus_hour_floor(DatumGetTimestampTz(column(row, desc, "started_at", &isnull)));
	outcome = column(row, desc, "is_success", &isnull);
	c.finished = !isnull;
	c.succeeded = c.finished && DatumGetBool(outcome);
	duration = column(row, desc, "duration_sec", &isnull);
	c.has_duration = c.finished && !isnull;
	c.duration = c.has_duration ? DatumGetFloat8(duration) : 0;
	return c;
}

static bool
text_equal(Datum a, Datum b)
{
	return DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, a, b));
}

static bool
same_contribution(const RunContribution *a, const RunContribution *b)
{
	return text_equal(a->tenant, b->tenant) &&
		text_equal(a->resource_id, b->resource_id) &&
		a->has_user == b->has_user &&
		(!a->has_user || text_equal(a->run_as_user, b->run_as_user)) &&
		a->bucket == b->bucket && a->finished == b->finished &&
		a->succeeded == b->succeeded && a->has_duration == b->has_duration &&
		a->duration == b->duration;
}

/* Adds (sign 1) or takes out (sign -1) the counts of the tenant and user rows. */
static void
apply_counts(const RunContribution *c, int sign)
{
	static NilusPlan tenant_counts = {
		"INSERT INTO nilus.run_rollup_tenant AS r (tenant, bucket, shard, runs, succeeded, failed) "
		"VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, bucket, shard) DO UPDATE SET "
		"runs = r.runs + EXCLUDED.runs, succeeded = r.succeeded + EXCLUDED.succeeded, "
		"failed = r.failed + EXCLUDED.failed",
		6, {TEXTOID, TIMESTAMPTZOID, INT2OID, INT8OID, INT8OID, INT8OID}
	};
	static NilusPlan user_counts = {
		"INSERT INTO nilus.run_rollup_user AS r (tenant, bucket, shard, runs, succeeded, failed, run_as_user) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, run_as_user, bucket, shard) DO UPDATE SET "
		"runs = r.runs + EXCLUDED.runs, succeeded = r.succeeded + EXCLUDED.succeeded, "
		"failed = r.failed + EXCLUDED.failed",
		7, {TEXTOID, TIMESTAMPTZOID, INT2OID, INT8OID, INT8OID, INT8OID, TEXTOID}
	};
	Datum		values[7] = {
		c->tenant, TimestampTzGetDatum(c->bucket), Int16GetDatum(MyProcPid % ROLLUP_SHARDS),
		Int64GetDatum(sign), Int64GetDatum(c->finished && c->succeeded ? sign : 0),
		Int64GetDatum(c->finished && !c->succeeded ? sign : 0), c->run_as_user
	};

	nilus_execute(&tenant_counts, values, NULL, false, 0);
	if (c->has_user)
		nilus_execute(&user_counts, values, NULL, false, 0);
}

static void
add_to_resource(const RunContribution *c)
{
	static NilusPlan add = {
		"INSERT INTO nilus.run_rollup_resource AS r "
		"(tenant, resource_id, bucket, runs, succeeded, failed, durations, duration_sum, duration_max) "
		"VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8) ON CONFLICT (tenant, resource_id, bucket) DO UPDATE SET "
		"runs = r.runs + 1, succeeded = r.succeeded + EXCLUDED.succeeded, failed = r.failed + EXCLUDED.failed, "
		"durations = r.durations + EXCLUDED.durations, duration_sum = r.duration_sum + EXCLUDED.duration_sum, "
		"duration_max = greatest(r.duration_max, EXCLUDED.duration_max)",
		8, {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID, FLOAT8OID, FLOAT8OID}
	};
	Datum		values[8] = {
		c->tenant, c->resource_id, TimestampTzGetDatum(c->bucket),
		Int64GetDatum(c->finished && c->succeeded), Int64GetDatum(c->finished && !c->succeeded),
		Int64GetDatum(c->has_duration), Float8GetDatum(c->duration), Float8GetDatum(c->duration)
	};
	char		nulls[8] = "       ";

	nulls[7] = c->has_duration ? ' ' : 'n';
	nilus_execute(&add, values, nulls, false, 0);
}

static void
remove_from_resource(const RunContribution *c)
{
	static NilusPlan remove = {
		"UPDATE nilus.run_rollup_resource SET runs = runs - 1, succeeded = succeeded - $4, "
		"failed = failed - $5, durations = durations - $6, duration_sum = duration_sum - $7::numeric, "
		"duration_max = CASE WHEN $8 AND $7 >= duration_max THEN "
		"  (SELECT max(duration_sec) FROM nilus.pipeline_run "
		"   WHERE tenant = $1 AND resource_id = $2 AND started_at >= $3 "
		"     AND started_at < $3 + interval '1 hour' AND is_success IS NOT NULL) "
		"  ELSE duration_max END "
		"WHERE tenant = $1 AND resource_id = $2 AND bucket = $3",
		8, {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID, FLOAT8OID, BOOLOID}
	};
	Datum		values[8] = {
		c->tenant, c->resource_id, TimestampTzGetDatum(c->bucket),
		Int64GetDatum(c->finished && c->succeeded), Int64GetDatum(c->finished && !c->succeeded),
		Int64GetDatum(c->has_duration), Float8GetDatum(c->duration), BoolGetDatum(c->has_duration)
	};

	nilus_execute(&remove, values, NULL, false, 0);
}

static void
add_run(const RunContribution *c)
{
	add_to_resource(c);
	apply_counts(c, 1);
}

static void
remove_run(const RunContribution *c)
{
	remove_from_resource(c);
	apply_counts(c, -1);
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

	SPI_connect();
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
		{
			remove_run(&old_run);
			add_run(&new_run);
		}
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}
