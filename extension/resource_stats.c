/*
 * resource_stats.c: every resource's run statistics over a period ending
 * now, as rows (nilus.resource_stats, for analysts) and as a page of a
 * listing (nilus.tenant_stats, GET /tenants/{t}/stats).
 *
 * The rules are pipeline_stats' (stats.c), for all the tenant's resources
 * at once: the window is split into the whole UTC days inside it (daily
 * rollup), the whole hours left at either end (hourly rollup), the whole
 * minutes and then seconds beyond those (minute and second rollups) and the
 * two partial seconds at the edges (the runs), so the rows read follow the
 * window's days, hours, minutes, seconds and resources, not the runs in it.  A resource is
 * listed when a run of it (finished or not) started in the window.  Its
 * pipeline_name and last run are those of its newest run started by now:
 * one probe of the resource's index per listed resource.
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "json_out.h"
#include "period.h"
#include "result_rows.h"
#include "rollup_window.h"
#include "spi.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"

/* The runs of one edge, each as a part (a running run counts, in runs only). */
#define EDGE_RUNS \
	"SELECT resource_id, 1 AS runs, coalesce(is_success, false)::int AS succeeded, " \
	"coalesce(NOT is_success, false)::int AS failed, " \
	"(is_success IS NOT NULL AND duration_sec IS NOT NULL)::int AS durations, " \
	"CASE WHEN is_success IS NOT NULL THEN coalesce(duration_sec::numeric, 0) ELSE 0 END AS duration_sum, " \
	"CASE WHEN is_success IS NOT NULL THEN duration_sec END AS duration_max " \
	"FROM nilus.pipeline_run WHERE tenant = $1 AND started_at >= $%d AND started_at < $%d"
#define ROLLUP_ROWS \
	"SELECT resource_id, runs, succeeded, failed, durations, duration_sum, duration_max FROM %s" \
	" WHERE tenant = $1 AND bucket >= $%d AND bucket < $%d"

/*
 * $1 tenant, $2..$19 the split, $20 now.  Sorted as the listing shows them:
 * most failures first, then by name, resource_id breaking ties.
 */
#define RESOURCE_ROWS \
	"SELECT t.resource_id, last.pipeline_name, " NILUS_STATS_COLUMNS ", " \
	"       last.started_at AS last_started_at, " \
	"       last.is_success AS last_is_success " \
	"  FROM totals t LEFT JOIN LATERAL (" \
	"       SELECT r.pipeline_name, r.started_at, r.is_success FROM nilus.pipeline_run r " \
	"        WHERE r.tenant = $1 AND r.resource_id = t.resource_id AND r.started_at <= $20 " \
	"        ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) last ON true " \
	" ORDER BY t.failed DESC, last.pipeline_name, t.resource_id"

static NilusPlan resource_rows = {
	NULL,
	20, {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
};

/* Runs resource_rows for the tenant over the window; its rows are in SPI_tuptable. */
static void
read_resource_rows(const char *tenant, NilusRange window, TimestampTz now)
{
	SplitWindow split = nilus_split_window(window, USECS_PER_SEC);
	Datum		values[2 + NILUS_SPLIT_VALUES];

	values[0] = CStringGetTextDatum(tenant);
	nilus_split_values(&split, values, 1);
	values[1 + NILUS_SPLIT_VALUES] = TimestampTzGetDatum(now);
	if (resource_rows.sql == NULL)
		resource_rows.sql = nilus_keep_string(psprintf("%s" RESOURCE_ROWS,
													   nilus_split_totals_sql(EDGE_RUNS, ROLLUP_ROWS, 2, "resource_id")));
	nilus_execute(&resource_rows, values, NULL, true, 0);
}

PG_FUNCTION_INFO_V1(nilus_resource_stats);

Datum
nilus_resource_stats(PG_FUNCTION_ARGS)
{
	char	   *tenant = nilus_arg_tenant_for(fcinfo, NILUS_RIGHT_OF(tenant_stats));
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	NilusRange	window = nilus_period_window(nilus_arg_text(fcinfo, "period"), now);

	nilus_spi_connect();
	read_resource_rows(tenant, window, now);
	nilus_return_spi_rows(fcinfo);
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(nilus_tenant_stats);

Datum
nilus_tenant_stats(PG_FUNCTION_ARGS)
{
	char	   *tenant = nilus_arg_tenant_for(fcinfo, NILUS_RIGHT_OF(tenant_stats));
	char	   *period = nilus_arg_text(fcinfo, "period");
	int32		limit = nilus_arg_limit(fcinfo);
	int32		offset = nilus_arg_offset(fcinfo);
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	NilusRange	window = nilus_period_window(period, now);
	NilusJson	js;

	nj_init(&js);
	nilus_spi_connect();
	read_resource_rows(tenant, window, now);
	nj_begin_object(&js);
	nilus_write_period(&js, period, window);
	nj_key(&js, "resources");
	nj_begin_array(&js);
	for (uint64 i = offset; i < SPI_processed && i < (uint64) offset + limit; i++)
		nj_row(&js, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
	nj_end_page(&js, limit, offset, (int64) SPI_processed);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
