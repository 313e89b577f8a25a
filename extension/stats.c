/*
 * stats.c: a resource's run statistics over a period ending now.
 *
 * The window [now - period, now] is answered as the whole UTC days inside
 * it, read from a daily rollup, the whole hours left at either end from an
 * hourly rollup, the whole minutes left beyond those from a minute rollup,
 * the whole seconds left beyond those from a second rollup, and the runs of
 * the two partial seconds at the edges from nilus.pipeline_run itself
 * (rollup_window.c): the cost follows the window's days plus at most 46
 * hours, 118 minutes, 118 seconds and the runs of 2 seconds, not the number
 * of runs in it, and the answer equals the plain aggregate.  (A maximum
 * cannot be subtracted, so an edge is not the rollup of its minute less the
 * rest of the minute, as a listing's total is: seconds bound it instead.)
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "errors.h"
#include "json_out.h"
#include "period.h"
#include "rollup_window.h"
#include "spi.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* The finished runs of the resource in [lo, hi): what its rollup rows count. */
#define FINISHED_RUNS(lo, hi) \
	"FROM nilus.pipeline_run WHERE tenant = $1 AND resource_id = $2 " \
	"AND started_at >= " lo " AND started_at < " hi " AND is_success IS NOT NULL"

/*
 * The stats window widened to the whole second at either end where the
 * second's part outside the window has no finished run: the answer is the
 * same, and that second is read from its rollup row instead of its runs.
 * The second of now has no runs after now, unless a clock was ahead, so the
 * runs of the second being written are not read again by every stats call.
 */
static NilusRange
widen_to_quiet_seconds(Datum tenant, Datum resource_id, NilusRange window)
{
	static NilusPlan outside = {
		"SELECT NOT EXISTS (SELECT 1 " FINISHED_RUNS("$3", "$4") "), "
		"       NOT EXISTS (SELECT 1 " FINISHED_RUNS("$5", "$6") ")",
		6, {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	};
	TimestampTz second_lo = nilus_floor(window.lo, USECS_PER_SEC);
	TimestampTz second_hi = nilus_ceil(window.hi, USECS_PER_SEC);
	Datum		values[6] = {tenant, resource_id, TimestampTzGetDatum(second_lo),
		TimestampTzGetDatum(window.lo), TimestampTzGetDatum(window.hi), TimestampTzGetDatum(second_hi)};
	bool		isnull;

	nilus_execute(&outside, values, NULL, true, 1);
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		window.lo = second_lo;
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		window.hi = second_hi;
	return window;
}

/* One part of the stats: a rollup's rows over one range of the split. */
#define STATS_ROLLUP \
	"SELECT succeeded, failed, durations, duration_sum, duration_max FROM %s" \
	" WHERE tenant = $1 AND resource_id = $2 AND bucket >= $%d AND bucket < $%d"
/* ... or the finished runs of one edge (two ranges, so each reads the resource's index). */
#define STATS_RUNS \
	"SELECT (is_success)::int AS succeeded, (NOT is_success)::int AS failed, " \
	"(duration_sec IS NOT NULL)::int AS durations, coalesce(duration_sec::numeric, 0) AS duration_sum, " \
	"duration_sec AS duration_max " FINISHED_RUNS("$%d", "$%d")

/*
 * One statement over the split ($3..$20, split_values).  Averages and rates
 * are rounded to 2 decimals.
 */
static NilusPlan resource_stats = {
	NULL,
	20, {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
};

PG_FUNCTION_INFO_V1(nilus_pipeline_stats);

Datum
nilus_pipeline_stats(PG_FUNCTION_ARGS)
{
	char	   *tenant = nilus_arg_tenant_for(fcinfo, NILUS_RIGHT_OF(pipeline_stats));
	char	   *resource_id = nilus_arg_name(fcinfo, "resource_id");
	char	   *period = nilus_arg_text(fcinfo, "period");
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	NilusRange	window;
	SplitWindow split;
	Datum		values[2 + NILUS_SPLIT_VALUES];
	NilusJson	js;

	window = nilus_period_window(period, now);
	values[0] = CStringGetTextDatum(tenant);
	values[1] = CStringGetTextDatum(resource_id);

	if (resource_stats.sql == NULL)
		resource_stats.sql = nilus_keep_string(psprintf("%sSELECT " NILUS_STATS_COLUMNS " FROM totals",
														nilus_split_totals_sql(STATS_RUNS, STATS_ROLLUP, 3, NULL)));
	nj_init(&js);
	nilus_spi_connect();
	split = nilus_split_window(widen_to_quiet_seconds(values[0], values[1], window), USECS_PER_SEC);
	nilus_split_values(&split, values, 2);
	nilus_execute(&resource_stats, values, NULL, true, 1);
	nj_begin_object(&js);
	nj_key(&js, "resource_id");
	nj_string(&js, resource_id);
	nilus_write_period(&js, period, window);
	nj_key(&js, "stats");
	nj_row(&js, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	nj_end_object(&js);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
