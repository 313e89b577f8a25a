/*
 * rollup_window.c: a window of time split into the parts the rollups
 * answer: the whole UTC days inside it (daily rollup), the whole hours left
 * at either end (hourly rollup), and the two partial hours at the edges
 * (the runs themselves).
 */
#include "postgres.h"

#include "rollup_window.h"

#include "lib/stringinfo.h"
#include "utils/timestamp.h"

SplitWindow
nilus_split_window(NilusRange window)
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
void
nilus_split_values(const SplitWindow *split, Datum *values, int first)
{
	const NilusRange *ranges[5] = {&split->lower_edge, &split->lower_hours, &split->days,
	&split->upper_hours, &split->upper_edge};

	for (int i = 0; i < 5; i++)
	{
		values[first + 2 * i] = TimestampTzGetDatum(ranges[i]->lo);
		values[first + 2 * i + 1] = TimestampTzGetDatum(ranges[i]->hi);
	}
}

char *
nilus_split_totals_sql(const char *edge_runs, const char *rollup_rows, int first, const char *key)
{
	/* The rollup of each range of the split, in nilus_split_values' order; NULL: the runs. */
	static const char *const rollups[5] = {NULL, "nilus.run_rollup_resource",
	"nilus.run_rollup_resource_day", "nilus.run_rollup_resource", NULL};
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
