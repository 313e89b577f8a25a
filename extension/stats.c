/*
 * stats.c: run counts and statistics from the hourly rollups.
 *
 * A window [lo, hi) is answered as the whole hours inside it, read from a
 * rollup, plus the runs of its two partial hours at the edges, read from
 * nilus.pipeline_run itself: the cost follows the window's length in hours,
 * not the number of runs in it, and the answer equals the plain aggregate.
 */
#include "nilus.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* The window split in whole hours [whole_from, whole_until) and two edges. */
typedef struct SplitWindow
{
	NilusRange	lower_edge;
	NilusRange	whole;
	NilusRange	upper_edge;
} SplitWindow;

static SplitWindow
split_window(NilusRange window)
{
	SplitWindow split;
	TimestampTz from = nilus_hour_ceil(window.lo);
	TimestampTz until = nilus_hour_floor(window.hi);

	if (from > until)			/* within one hour: all of it is edge */
		from = until = window.hi;
	split.lower_edge.lo = window.lo;
	split.lower_edge.hi = from;
	split.whole.lo = from;
	split.whole.hi = until;
	split.upper_edge.lo = until;
	split.upper_edge.hi = window.hi;
	return split;
}

static int64
exact_count(const RunFilter *filter)
{
	static NilusPlan counts[1 << NILUS_RUN_FILTER_BITS];
	NilusPlan  *count = nilus_run_filter_plan(counts, nilus_run_filter_mask(filter),
											  "SELECT count(*)", "");
	Datum		values[8];
	char		nulls[8];
	bool		isnull;

	if (filter->range.lo >= filter->range.hi)
		return 0;
	nilus_run_filter_values(filter, values, nulls);
	nilus_execute(count, values, nulls, true, 1);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Which rollup answers a filter, and which of its counts. */
enum RollupTable
{
	ROLLUP_TENANT, ROLLUP_RESOURCE, ROLLUP_USER
};
enum RollupCount
{
	COUNT_RUNS, COUNT_SUCCEEDED, COUNT_FAILED
};

static int64
rollup_count(const RunFilter *filter, NilusRange whole)
{
	static NilusPlan sums[3][3];
	static const char *const tables[3] = {
		"nilus.run_rollup_tenant WHERE tenant = $1",
		"nilus.run_rollup_resource WHERE tenant = $1 AND resource_id = $2",
		"nilus.run_rollup_user WHERE tenant = $1 AND run_as_user = $3"
	};
	static const char *const columns[3] = {"runs", "succeeded", "failed"};
	enum RollupTable table = filter->resource_id ? ROLLUP_RESOURCE :
		filter->run_as_user ? ROLLUP_USER : ROLLUP_TENANT;
	enum RollupCount column = !filter->has_outcome ? COUNT_RUNS :
		filter->outcome ? COUNT_SUCCEEDED : COUNT_FAILED;
	NilusPlan  *sum = &sums[table][column];
	Datum		values[8];
	char		nulls[8];
	bool		isnull;

	if (sum->sql == NULL)
	{
		static const Oid types[6] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID};

		sum->sql = MemoryContextStrdup(TopMemoryContext,
									   psprintf("SELECT coalesce(sum(%s), 0)::int8 FROM %s "
												"AND bucket >= $5 AND bucket < $6",
												columns[column], tables[table]));
		sum->nargs = 6;
		memcpy(sum->argtypes, types, sizeof(types));
	}
	if (whole.lo >= whole.hi)
		return 0;
	nilus_run_filter_values(filter, values, nulls);
	values[4] = TimestampTzGetDatum(whole.lo);
	values[5] = TimestampTzGetDatum(whole.hi);
	nilus_execute(sum, values, nulls, true, 1);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The exact number of runs a listing's filter selects.  The rollups answer
 * every filter but one on both resource and user, which is counted directly.
 * Call within SPI.
 */
int64
nilus_count_runs(const RunFilter *filter)
{
	SplitWindow split;
	RunFilter	edge = *filter;
	int64		total;

	if (filter->resource_id && filter->run_as_user)
		return exact_count(filter);
	split = split_window(filter->range);
	total = rollup_count(filter, split.whole);
	edge.range = split.lower_edge;
	total += exact_count(&edge);
	edge.range = split.upper_edge;
	total += exact_count(&edge);
	return total;
}

/* period: <n>m, <n>h, <n>d or <n>w, up to 366 days. */
static int64
parse_period(const char *period)
{
	char	   *end;
	long		n;
	int64		unit;

	errno = 0;
	n = strtol(period, &end, 10);
	if (end == period || !isdigit((unsigned char) period[0]) || errno != 0 ||
		end[0] == '\0' || end[1] != '\0')
		n = -1;
	switch (end[0])
	{
		case 'm': unit = USECS_PER_MINUTE; break;
		case 'h': unit = USECS_PER_HOUR; break;
		case 'd': unit = USECS_PER_DAY; break;
		case 'w': unit = 7 * USECS_PER_DAY; break;
		default: unit = 0; break;
	}
	if (n < 1 || unit == 0 || n > 366 * USECS_PER_DAY / unit)
		nilus_invalid("period",
					  "period must be <n>m, <n>h, <n>d or <n>w with n >= 1, at most 366d, not \"%s\"",
					  period);
	return n * unit;
}

/*
 * One statement: whole hours from the resource rollup, the edges from the
 * runs.  Averages and rates are rounded to 2 decimals.
 */
static NilusPlan resource_stats = {
	"WITH parts AS ("
	"  SELECT succeeded, failed, durations, duration_sum, duration_max FROM nilus.run_rollup_resource "
	"   WHERE tenant = $1 AND resource_id = $2 AND bucket >= $5 AND bucket < $6 "
	"  UNION ALL "
	"  SELECT (is_success)::int, (NOT is_success)::int, (duration_sec IS NOT NULL)::int, "
	"         coalesce(duration_sec::numeric, 0), duration_sec FROM nilus.pipeline_run "
	"   WHERE tenant = $1 AND resource_id = $2 AND is_success IS NOT NULL "
	"     AND ((started_at >= $3 AND started_at < $4) OR (started_at >= $7 AND started_at < $8))), "
	"totals AS (SELECT coalesce(sum(succeeded), 0) AS successful, coalesce(sum(failed), 0) AS failed, "
	"                  sum(durations) AS durations, sum(duration_sum) AS duration_sum, "
	"                  max(duration_max) AS max_duration FROM parts) "
	"SELECT (successful + failed)::int8 AS total_runs, successful::int8 AS successful_runs, "
	"       failed::int8 AS failed_runs, "
	"       round(100.0 * successful / nullif(successful + failed, 0), 2)::float8 AS success_rate, "
	"       round(duration_sum / nullif(durations, 0), 2)::float8 AS avg_duration_sec, "
	"       max_duration AS max_duration_sec FROM totals",
	8, {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID}
};

PG_FUNCTION_INFO_V1(nilus_pipeline_stats);

/* (tenant, resource_id, period) */
Datum
nilus_pipeline_stats(PG_FUNCTION_ARGS)
{
	char	   *tenant = nilus_arg_tenant(fcinfo, 0);
	char	   *resource_id;
	char	   *period;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	NilusRange	window;
	SplitWindow split;
	Datum		values[8];
	NilusJson	js;

	nilus_require_access(tenant, NILUS_RIGHT_READ);
	resource_id = nilus_arg_name(fcinfo, 1, "resource_id");
	period = PG_ARGISNULL(2) ? "24h" : TextDatumGetCString(PG_GETARG_DATUM(2));
	window.lo = now - parse_period(period);
	window.hi = now + 1;		/* [now - period, now] */
	split = split_window(window);

	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = TimestampTzGetDatum(split.lower_edge.lo);
	values[3] = TimestampTzGetDatum(split.lower_edge.hi);
	values[4] = TimestampTzGetDatum(split.whole.lo);
	values[5] = TimestampTzGetDatum(split.whole.hi);
	values[6] = TimestampTzGetDatum(split.upper_edge.lo);
	values[7] = TimestampTzGetDatum(split.upper_edge.hi);

	nj_init(&js);
	SPI_connect();
	nilus_execute(&resource_stats, values, NULL, true, 1);
	nj_begin_object(&js);
	nj_key(&js, "resource_id");
	nj_string(&js, resource_id);
	nj_key(&js, "period");
	nj_string(&js, period);
	nj_key(&js, "period_start");
	nj_timestamptz(&js, window.lo);
	nj_key(&js, "period_end");
	nj_timestamptz(&js, now);
	nj_key(&js, "stats");
	nj_row(&js, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	nj_end_object(&js);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
