/*
 * rollup_window.h: a window of time split into the parts the rollups answer.
 */
#ifndef NILUS_ROLLUP_WINDOW_H
#define NILUS_ROLLUP_WINDOW_H

#include "time_range.h"

/* The parts, in time order; together they are the window. */
typedef struct SplitWindow
{
	NilusRange	lower_edge;		/* part of the finest unit: runs */
	NilusRange	lower_seconds;	/* whole seconds: second rollup (empty when minutes are the finest) */
	NilusRange	lower_minutes;	/* whole minutes: minute rollup */
	NilusRange	lower_hours;	/* whole hours: hourly rollup */
	NilusRange	days;			/* whole UTC days: daily rollup */
	NilusRange	upper_hours;
	NilusRange	upper_minutes;
	NilusRange	upper_seconds;
	NilusRange	upper_edge;
} SplitWindow;

/* The number of statement parameters nilus_split_values fills. */
#define NILUS_SPLIT_VALUES 18

/*
 * The stats' columns from the sums of a split's parts (successful, failed,
 * durations, duration_sum, max_duration): the rate and the average rounded
 * to 2 decimals, null without runs or durations.
 */
#define NILUS_STATS_COLUMNS \
	"(successful + failed)::int8 AS total_runs, successful::int8 AS successful_runs, " \
	"failed::int8 AS failed_runs, " \
	"round(100.0 * successful / nullif(successful + failed, 0), 2)::float8 AS success_rate, " \
	"round(duration_sum / nullif(durations, 0), 2)::float8 AS avg_duration_sec, " \
	"max_duration AS max_duration_sec"

/*
 * The "WITH parts AS (...), totals AS (...) " of a stats statement over a
 * split whose ranges are parameters $first .. $first + 17 (nilus_split_values):
 * parts are each edge's runs (edge_runs, a format of the range's two
 * parameter numbers) and the second, minute, hourly and daily rollups' rows (rollup_rows, a
 * format of the table and the two numbers), in time order, with the columns
 * succeeded, failed, durations, duration_sum and duration_max; totals are
 * their sums as NILUS_STATS_COLUMNS reads them, over all the parts (key
 * NULL) or per key, keeping the keys whose parts count runs (a column runs).
 * Made in the current memory context.
 */
extern char *nilus_split_totals_sql(const char *edge_runs, const char *rollup_rows, int first,
									const char *key);
/*
 * finest: USECS_PER_SEC where a second rollup answers (resources), else
 * USECS_PER_MINUTE (the seconds are then empty, the edges parts of minutes).
 */
extern SplitWindow nilus_split_window(NilusRange window, int64 finest);
/* The split's ranges as parameters first .. first + 17, in time order. */
extern void nilus_split_values(const SplitWindow *split, Datum *values, int first);

#endif							/* NILUS_ROLLUP_WINDOW_H */
