/*
 * stats.c: run counts and statistics from the rollups.
 *
 * A window [lo, hi) is answered as the whole UTC days inside it, read from a
 * daily rollup, the whole hours left at either end from an hourly rollup,
 * and the runs of the two partial hours at the edges from nilus.pipeline_run
 * itself: the cost follows the window's days plus at most 46 hours and the
 * runs of 2 hours, not the number of runs in it, and the answer equals the
 * plain aggregate.
 */
#include "nilus.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* The window split, in time order. */
typedef struct SplitWindow
{
	NilusRange	lower_edge;		/* runs */
	NilusRange	lower_hours;
	NilusRange	days;
	NilusRange	upper_hours;
	NilusRange	upper_edge;		/* runs */
} SplitWindow;

static SplitWindow
split_window(NilusRange window)
{
	SplitWindow split;
	TimestampTz hours_from = nilus_ceil(window.lo, USECS_PER_HOUR);
	TimestampTz hours_until = nilus_floor(window.hi, USECS_PER_HOUR);
	TimestampTz days_from;
	TimestampTz days_until;

	if (hours_from > hours_until)	/* within one hour: all of it is edge */
		hours_from = hours_until = window.hi;
	days_from = nilus_ceil(hours_from, USECS_PER_DAY);
	days_until = nilus_floor(hours_until, USECS_PER_DAY);
	if (days_from > days_until)	/* within one day: all of it is hours */
		days_from = days_until = hours_until;
	split.lower_edge = (NilusRange) {window.lo, hours_from};
	split.lower_hours = (NilusRange) {hours_from, days_from};
	split.days = (NilusRange) {days_from, days_until};
	split.upper_hours = (NilusRange) {days_until, hours_until};
	split.upper_edge = (NilusRange) {hours_until, window.hi};
	return split;
}

/* The split's ranges as parameters first .. first + 9, in time order. */
static void
split_values(const SplitWindow *split, Datum *values, int first)
{
	const NilusRange *ranges[5] = {&split->lower_edge, &split->lower_hours, &split->days,
	&split->upper_hours, &split->upper_edge};

	for (int i = 0; i < 5; i++)
	{
		values[first + 2 * i] = TimestampTzGetDatum(ranges[i]->lo);
		values[first + 2 * i + 1] = TimestampTzGetDatum(ranges[i]->hi);
	}
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

static const char *
range_sum(const char *column, const char *table, const char *key, int lo, int hi)
{
	return psprintf("(SELECT coalesce(sum(%s), 0) FROM nilus.%s WHERE %s "
					"AND bucket >= $%d AND bucket < $%d)", column, table, key, lo, hi);
}

/*
 * The rollup's sum over the whole hours and days of split: $7..$12 are its
 * hours, days and hours (split_values from $5).  Users have no daily rows:
 * their hours run from $7 to $12.
 */
static const char *
rollup_sum_sql(enum RollupTable table, const char *column)
{
	static const char *const keys[3] = {
		"tenant = $1", "tenant = $1 AND resource_id = $2", "tenant = $1 AND run_as_user = $3"
	};
	static const char *const hourly[3] = {"run_rollup_tenant", "run_rollup_resource", "run_rollup_user"};
	static const char *const daily[3] = {"run_rollup_tenant_day", "run_rollup_resource_day", NULL};

	if (!daily[table])
		return psprintf("SELECT %s::int8", range_sum(column, hourly[table], keys[table], 7, 12));
	return psprintf("SELECT (%s + %s + %s)::int8",
					range_sum(column, hourly[table], keys[table], 7, 8),
					range_sum(column, daily[table], keys[table], 9, 10),
					range_sum(column, hourly[table], keys[table], 11, 12));
}

static int64
rollup_count(const RunFilter *filter, const SplitWindow *split)
{
	static NilusPlan sums[3][3];
	static const char *const columns[3] = {"runs", "succeeded", "failed"};
	enum RollupTable table = filter->resource_id ? ROLLUP_RESOURCE :
		filter->run_as_user ? ROLLUP_USER : ROLLUP_TENANT;
	enum RollupCount column = !filter->has_outcome ? COUNT_RUNS :
		filter->outcome ? COUNT_SUCCEEDED : COUNT_FAILED;
	NilusPlan  *sum = &sums[table][column];
	Datum		values[14];
	char		nulls[14];
	bool		isnull;

	if (sum->sql == NULL)
	{
		static const Oid types[14] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID,
			TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
		sum->sql = MemoryContextStrdup(TopMemoryContext, rollup_sum_sql(table, columns[column]));
		sum->nargs = 14;
		memcpy(sum->argtypes, types, sizeof(types));
	}
	if (split->lower_hours.lo >= split->upper_hours.hi)
		return 0;
	nilus_run_filter_values(filter, values, nulls);
	memset(nulls, ' ', sizeof(nulls));
	split_values(split, values, 4);
	nilus_execute(sum, values, nulls, true, 1);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The runs of a filter within an edge, a part of one hour.  An edge longer
 * than half its hour is the hour's rollup count less the runs of the rest
 * of the hour: the runs read are those of half an hour at most.
 */
static int64
edge_count(const RunFilter *filter, NilusRange range)
{
	RunFilter	part = *filter;
	TimestampTz hour = nilus_floor(range.lo, USECS_PER_HOUR);
	SplitWindow whole_hour;
	int64		count;

	if (TIMESTAMP_NOT_FINITE(range.lo) || TIMESTAMP_NOT_FINITE(range.hi) ||
		range.hi - range.lo <= USECS_PER_HOUR / 2)
	{
		part.range = range;
		return exact_count(&part);
	}
	whole_hour = split_window((NilusRange) {hour, hour + USECS_PER_HOUR});
	count = rollup_count(filter, &whole_hour);
	part.range = (NilusRange) {hour, range.lo};
	count -= exact_count(&part);
	part.range = (NilusRange) {range.hi, hour + USECS_PER_HOUR};
	return count - exact_count(&part);
}

/*
 * The filter's range, ending at the end of its last hour instead when that
 * hour is the hour of now (or later) and no run of the filter lies after the
 * range in it: the count is the same, and the hour being written is read
 * from its rollup row instead of its runs.  Ranges ending earlier are not
 * probed: their hours have runs on both sides of an edge as a rule.
 */
static NilusRange
widen_into_quiet_now(const RunFilter *filter)
{
	static NilusPlan probes[1 << NILUS_RUN_FILTER_BITS];
	RunFilter	rest = *filter;
	TimestampTz hour_end = nilus_ceil(filter->range.hi, USECS_PER_HOUR);
	Datum		values[8];
	char		nulls[8];

	if (TIMESTAMP_NOT_FINITE(filter->range.hi) || hour_end == filter->range.hi ||
		hour_end <= GetCurrentTransactionStartTimestamp())
		return filter->range;
	rest.range = (NilusRange) {filter->range.hi, hour_end};
	nilus_run_filter_values(&rest, values, nulls);
	nilus_execute(nilus_run_filter_plan(probes, nilus_run_filter_mask(&rest), "SELECT 1", " LIMIT 1"),
				  values, nulls, true, 1);
	if (SPI_processed > 0)
		return filter->range;
	return (NilusRange) {filter->range.lo, hour_end};
}

/*
 * The exact number of runs a listing's filter selects.  The rollups answer
 * every filter but one on both resource and user, which is counted directly.
 * Call within SPI.
 */
int64
nilus_count_runs(const RunFilter *filter)
{
	RunFilter	widened = *filter;
	SplitWindow split;

	if (filter->resource_id && filter->run_as_user)
		return exact_count(filter);
	widened.range = widen_into_quiet_now(filter);
	split = split_window(widened.range);
	return rollup_count(&widened, &split) + edge_count(&widened, split.lower_edge) +
		edge_count(&widened, split.upper_edge);
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

/* The finished runs of the resource in [lo, hi): what its rollup rows count. */
#define FINISHED_RUNS(lo, hi) \
	"FROM nilus.pipeline_run WHERE tenant = $1 AND resource_id = $2 " \
	"AND started_at >= " lo " AND started_at < " hi " AND is_success IS NOT NULL"

/*
 * The stats window widened to the whole hour at either end where the hour's
 * part outside the window has no finished run: the answer is the same, and
 * that hour is read from its rollup row instead of its runs.  The hour of
 * now has no runs after now, unless a clock was ahead, so the runs of the
 * hour being written are not read again by every stats call.
 */
static NilusRange
widen_to_quiet_hours(Datum tenant, Datum resource_id, NilusRange window)
{
	static NilusPlan outside = {
		"SELECT NOT EXISTS (SELECT 1 " FINISHED_RUNS("$3", "$4") "), "
		"       NOT EXISTS (SELECT 1 " FINISHED_RUNS("$5", "$6") ")",
		6, {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	};
	TimestampTz hour_lo = nilus_floor(window.lo, USECS_PER_HOUR);
	TimestampTz hour_hi = nilus_ceil(window.hi, USECS_PER_HOUR);
	Datum		values[6] = {tenant, resource_id, TimestampTzGetDatum(hour_lo),
		TimestampTzGetDatum(window.lo), TimestampTzGetDatum(window.hi), TimestampTzGetDatum(hour_hi)};
	bool		isnull;

	nilus_execute(&outside, values, NULL, true, 1);
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		window.lo = hour_lo;
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		window.hi = hour_hi;
	return window;
}

/* One part of the stats: a rollup's rows over one range of the split. */
#define STATS_ROLLUP(table, lo, hi) \
	"SELECT succeeded, failed, durations, duration_sum, duration_max FROM " table \
	" WHERE tenant = $1 AND resource_id = $2 AND bucket >= " lo " AND bucket < " hi
/* ... or the finished runs of one edge (two ranges, so each reads the resource's index). */
#define STATS_RUNS(lo, hi) \
	"SELECT (is_success)::int AS succeeded, (NOT is_success)::int AS failed, " \
	"(duration_sec IS NOT NULL)::int AS durations, coalesce(duration_sec::numeric, 0) AS duration_sum, " \
	"duration_sec AS duration_max " FINISHED_RUNS(lo, hi)

/*
 * One statement over the split ($3..$12, split_values).  Averages and rates
 * are rounded to 2 decimals.
 */
static NilusPlan resource_stats = {
	"WITH parts AS ("
	STATS_RUNS("$3", "$4") " UNION ALL "
	STATS_ROLLUP("nilus.run_rollup_resource", "$5", "$6") " UNION ALL "
	STATS_ROLLUP("nilus.run_rollup_resource_day", "$7", "$8") " UNION ALL "
	STATS_ROLLUP("nilus.run_rollup_resource", "$9", "$10") " UNION ALL "
	STATS_RUNS("$11", "$12") "), "
	"totals AS (SELECT coalesce(sum(succeeded), 0) AS successful, coalesce(sum(failed), 0) AS failed, "
	"                  sum(durations) AS durations, sum(duration_sum) AS duration_sum, "
	"                  max(duration_max) AS max_duration FROM parts) "
	"SELECT (successful + failed)::int8 AS total_runs, successful::int8 AS successful_runs, "
	"       failed::int8 AS failed_runs, "
	"       round(100.0 * successful / nullif(successful + failed, 0), 2)::float8 AS success_rate, "
	"       round(duration_sum / nullif(durations, 0), 2)::float8 AS avg_duration_sec, "
	"       max_duration AS max_duration_sec FROM totals",
	12, {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID}
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
	Datum		values[12];
	NilusJson	js;

	nilus_require_access(tenant, NILUS_RIGHT_READ);
	resource_id = nilus_arg_name(fcinfo, 1, "resource_id");
	period = PG_ARGISNULL(2) ? "24h" : TextDatumGetCString(PG_GETARG_DATUM(2));
	window.lo = now - parse_period(period);
	window.hi = now + 1;		/* [now - period, now] */
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);

	nj_init(&js);
	SPI_connect();
	split = split_window(widen_to_quiet_hours(values[0], values[1], window));
	split_values(&split, values, 2);
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
