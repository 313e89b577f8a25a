/*
 * run_count.c: the exact number of runs a listing's filter selects, from
 * the rollups.
 *
 * The filter's range is split (rollup_window.c): its whole days, hours and
 * minutes are summed from the rollups (of the tenant, the resource, the
 * user, or the resource and user when the filter names both), its two
 * partial minutes counted from the runs, so the cost follows the range's
 * days plus at most 46 hours, 118 minutes and the runs of half a minute at
 * each edge, not the number of runs in it (a user alone has no daily rows:
 * its whole hours instead of days).
 */
#include "postgres.h"

#include "rollup_window.h"
#include "run_count.h"
#include "spi.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

static int64
exact_count(const NilusRunFilter *filter)
{
	static NilusPlan counts[NILUS_FILTER_PLANS];
	NilusFilterArgs args;
	bool		isnull;

	if (filter->range.lo >= filter->range.hi)
		return 0;
	nilus_run_filter_args(filter, &args);
	nilus_execute(nilus_run_filter_plan(counts, &args, "SELECT count(*)", ""),
				  args.values, args.nulls, true, 1);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Which rollup answers a filter, and which of its counts. */
enum RollupTable
{
	ROLLUP_TENANT, ROLLUP_RESOURCE, ROLLUP_USER, ROLLUP_RESOURCE_USER, ROLLUP_TABLES
};
enum RollupCount
{
	COUNT_RUNS, COUNT_SUCCEEDED, COUNT_FAILED
};

/* The filter's parameters a rollup sum takes: tenant, resource_id, run_as_user, is_success. */
#define FILTER_KEYS 4

static const char *
range_sum(const char *column, const char *table, const char *key, int lo, int hi)
{
	return psprintf("(SELECT coalesce(sum(%s), 0) FROM nilus.%s WHERE %s "
					"AND bucket >= $%d AND bucket < $%d)", column, table, key, lo, hi);
}

/*
 * The rollup's sum over the whole minutes, hours and days of split: $1..$4
 * are the filter's tenant, resource_id, run_as_user and is_success
 * (run_filter.h), $9..$18 the split's minutes, hours, days, hours and
 * minutes (nilus_split_values from $5; its seconds are empty, split by
 * minute).  Users have no daily rows: their hours run from $11 to $16.
 */
static const char *
rollup_sum_sql(enum RollupTable table, const char *column)
{
	static const char *const keys[ROLLUP_TABLES] = {
		"tenant = $1", "tenant = $1 AND resource_id = $2", "tenant = $1 AND run_as_user = $3",
		"tenant = $1 AND resource_id = $2 AND run_as_user = $3"
	};
	static const char *const minutes[ROLLUP_TABLES] = {
		"run_rollup_tenant_minute", "run_rollup_resource_minute", "run_rollup_user_minute",
		"run_rollup_resource_user_minute"
	};
	static const char *const hourly[ROLLUP_TABLES] = {
		"run_rollup_tenant", "run_rollup_resource", "run_rollup_user", "run_rollup_resource_user"
	};
	static const char *const daily[ROLLUP_TABLES] = {
		"run_rollup_tenant_day", "run_rollup_resource_day", NULL, "run_rollup_resource_user_day"
	};
	const char *lower_minutes = range_sum(column, minutes[table], keys[table], 9, 10);
	const char *upper_minutes = range_sum(column, minutes[table], keys[table], 17, 18);

	if (!daily[table])
		return psprintf("SELECT (%s + %s + %s)::int8", lower_minutes,
						range_sum(column, hourly[table], keys[table], 11, 16), upper_minutes);
	return psprintf("SELECT (%s + %s + %s + %s + %s)::int8", lower_minutes,
					range_sum(column, hourly[table], keys[table], 11, 12),
					range_sum(column, daily[table], keys[table], 13, 14),
					range_sum(column, hourly[table], keys[table], 15, 16), upper_minutes);
}

static int64
rollup_count(const NilusRunFilter *filter, const SplitWindow *split)
{
	static NilusPlan sums[ROLLUP_TABLES][3];
	static const char *const columns[3] = {"runs", "succeeded", "failed"};
	enum RollupTable table = filter->resource_id && filter->run_as_user ? ROLLUP_RESOURCE_USER :
		filter->resource_id ? ROLLUP_RESOURCE : filter->run_as_user ? ROLLUP_USER : ROLLUP_TENANT;
	enum RollupCount column = !filter->has_outcome ? COUNT_RUNS :
		filter->outcome ? COUNT_SUCCEEDED : COUNT_FAILED;
	NilusPlan  *sum = &sums[table][column];
	NilusFilterArgs args;
	Datum		values[FILTER_KEYS + NILUS_SPLIT_VALUES];
	char		nulls[FILTER_KEYS + NILUS_SPLIT_VALUES];
	bool		isnull;

	if (sum->sql == NULL)
	{
		static const Oid keys[FILTER_KEYS] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID};

		memcpy(sum->argtypes, keys, sizeof(keys));
		for (int i = FILTER_KEYS; i < FILTER_KEYS + NILUS_SPLIT_VALUES; i++)
			sum->argtypes[i] = TIMESTAMPTZOID;
		sum->nargs = FILTER_KEYS + NILUS_SPLIT_VALUES;
		sum->sql = nilus_keep_string(rollup_sum_sql(table, columns[column]));
	}
	if (split->lower_minutes.lo >= split->upper_minutes.hi)
		return 0;
	nilus_run_filter_args(filter, &args);
	memcpy(values, args.values, FILTER_KEYS * sizeof(Datum));
	memcpy(nulls, args.nulls, FILTER_KEYS);
	nilus_split_values(split, values, FILTER_KEYS);
	memset(nulls + FILTER_KEYS, ' ', NILUS_SPLIT_VALUES);
	nilus_execute(sum, values, nulls, true, 1);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The runs of a filter within an edge, a part of one minute.  An edge longer
 * than half its minute is the minute's rollup count less the runs of the
 * rest of the minute: the runs read are those of half a minute at most.
 */
static int64
edge_count(const NilusRunFilter *filter, NilusRange range)
{
	NilusRunFilter part = *filter;
	TimestampTz minute = nilus_floor(range.lo, USECS_PER_MINUTE);
	SplitWindow whole_minute;
	int64		count;

	if (TIMESTAMP_NOT_FINITE(range.lo) || TIMESTAMP_NOT_FINITE(range.hi) ||
		range.hi - range.lo <= USECS_PER_MINUTE / 2)
	{
		part.range = range;
		return exact_count(&part);
	}
	whole_minute = nilus_split_window((NilusRange) {minute, minute + USECS_PER_MINUTE}, USECS_PER_MINUTE);
	count = rollup_count(filter, &whole_minute);
	part.range = (NilusRange) {minute, range.lo};
	count -= exact_count(&part);
	part.range = (NilusRange) {range.hi, minute + USECS_PER_MINUTE};
	return count - exact_count(&part);
}

/*
 * The filter's range, ending at the end of its last minute instead when that
 * minute is the minute of now (or later) and no run of the filter lies after
 * the range in it: the count is the same, and the minute being written is
 * read from its rollup row instead of its runs.  Ranges ending earlier are
 * not probed: their minutes have runs on both sides of an edge as a rule.
 */
static NilusRange
widen_into_quiet_now(const NilusRunFilter *filter)
{
	static NilusPlan probes[NILUS_FILTER_PLANS];
	NilusRunFilter rest = *filter;
	TimestampTz minute_end = nilus_ceil(filter->range.hi, USECS_PER_MINUTE);
	NilusFilterArgs args;

	if (TIMESTAMP_NOT_FINITE(filter->range.hi) || minute_end == filter->range.hi ||
		minute_end <= GetCurrentTransactionStartTimestamp())
		return filter->range;
	rest.range = (NilusRange) {filter->range.hi, minute_end};
	nilus_run_filter_args(&rest, &args);
	nilus_execute(nilus_run_filter_plan(probes, &args, "SELECT 1", " LIMIT 1"),
				  args.values, args.nulls, true, 1);
	if (SPI_processed > 0)
		return filter->range;
	return (NilusRange) {filter->range.lo, minute_end};
}

/*
 * The exact number of runs a listing's filter selects: tenant, resource,
 * user, resource and user, each with or without the outcome, all from the
 * rollups.  Call within SPI.
 */
int64
nilus_count_runs(const NilusRunFilter *filter)
{
	NilusRunFilter widened = *filter;
	SplitWindow split;

	widened.range = widen_into_quiet_now(filter);
	split = nilus_split_window(widened.range, USECS_PER_MINUTE);
	return rollup_count(&widened, &split) + edge_count(&widened, split.lower_edge) +
		edge_count(&widened, split.upper_edge);
}
