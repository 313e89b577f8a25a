/*
 * rollup_window.c: a window of time split into the parts the rollups
 * answer: the whole UTC days inside it (daily rollup), the whole hours left
 * at either end (hourly rollup), the whole minutes left beyond those (minute
 * rollup), the whole seconds left beyond those where a second rollup exists
 * (resources), and the two partial seconds (or minutes) at the edges (the
 * runs themselves).
 */
#include "postgres.h"

#include "rollup_window.h"

#include "lib/stringinfo.h"
#include "utils/timestamp.h"

/*
 * The whole units of [*from, *until) narrowed to whole coarser units; when
 * none fits, an empty range at *until, so the finer parts cover it all.
 */
static void
narrow_to(TimestampTz *from, TimestampTz *until, int64 unit)
{
	TimestampTz coarse_from = nilus_ceil(*from, unit);
	TimestampTz coarse_until = nilus_floor(*until, unit);

	if (coarse_from > coarse_until)
		coarse_from = coarse_until = *until;
	*from = coarse_from;
	*until = coarse_until;
}

SplitWindow
nilus_split_window(NilusRange window, int64 finest)
{
	SplitWindow split;
	TimestampTz seconds_from = window.lo;
	TimestampTz seconds_until = window.hi;
	TimestampTz minutes_from;
	TimestampTz minutes_until;
	TimestampTz hours_from;
	TimestampTz hours_until;
	TimestampTz days_from;
	TimestampTz days_until;

	narrow_to(&seconds_from, &seconds_until, finest);
	minutes_from = seconds_from;
	minutes_until = seconds_until;
	narrow_to(&minutes_from, &minutes_until, USECS_PER_MINUTE);
	if (finest == USECS_PER_MINUTE)
	{
		seconds_from = minutes_from;
		seconds_until = minutes_until;
	}
	hours_from = minutes_from;
	hours_until = minutes_until;
	narrow_to(&hours_from, &hours_until, USECS_PER_HOUR);
	days_from = hours_from;
	days_until = hours_until;
	narrow_to(&days_from, &days_until, USECS_PER_DAY);
	split.lower_edge = (NilusRange) {window.lo, seconds_from};
	split.lower_seconds = (NilusRange) {seconds_from, minutes_from};
	split.lower_minutes = (NilusRange) {minutes_from, hours_from};
	split.lower_hours = (NilusRange) {hours_from, days_from};
	split.days = (NilusRange) {days_from, days_until};
	split.upper_hours = (NilusRange) {days_until, hours_until};
	split.upper_minutes = (NilusRange) {hours_until, minutes_until};
	split.upper_seconds = (NilusRange) {minutes_until, seconds_until};
	split.upper_edge = (NilusRange) {seconds_until, window.hi};
	return split;
}

/* The split's ranges as parameters first .. first + 17, in time order. */
void
nilus_split_values(const SplitWindow *split, Datum *values, int first)
{
	const NilusRange *ranges[9] = {&split->lower_edge, &split->lower_seconds, &split->lower_minutes,
		&split->lower_hours, &split->days, &split->upper_hours, &split->upper_minutes,
		&split->upper_seconds, &split->upper_edge};

	for (int i = 0; i < 9; i++)
	{
		values[first + 2 * i] = TimestampTzGetDatum(ranges[i]->lo);
		values[first + 2 * i + 1] = TimestampTzGetDatum(ranges[i]->hi);
	}
}

char *
nilus_split_totals_sql(const char *edge_runs, const char *rollup_rows, int first, const char *key)
{
	/* The rollup of each range of the split, in nilus_split_values' order; NULL: the runs. */
	static const char *const rollups[9] = {NULL, "nilus.run_rollup_resource_second",
		"nilus.run_rollup_resource_minute", "nilus.run_rollup_resource", "nilus.run_rollup_resource_day",
		"nilus.run_rollup_resource", "nilus.run_rollup_resource_minute",
	"nilus.run_rollup_resource_second", NULL};
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "WITH parts AS (");
	for (int i = 0; i < lengthof(rollups); i++)
	{
		int			lo = first + 2 * i;

		if (i > 0)
			appendStringInfoString(&sql, " UNION ALL ");
		if (rollups[i] == NULL)
			appendStringInfo(&sql, edge_runs, lo, lo + 1);
		else
			appendStringInfo(&sql, rollup_rows, rollups[i], lo, lo + 1);
	}
	appendStringInfo(&sql, "), totals AS (SELECT %s%scoalesce(sum(succeeded), 0) AS successful, "
					 "coalesce(sum(failed), 0) AS failed, sum(durations) AS durations, "
					 "sum(duration_sum) AS duration_sum, max(duration_max) AS max_duration FROM parts",
					 key ? key : "", key ? ", " : "");
	if (key)
		appendStringInfo(&sql, " GROUP BY %s HAVING sum(runs) > 0", key);
	appendStringInfoString(&sql, ") ");
	return sql.data;
}
