/*
 * run_series.c: a tenant's or a resource's finished runs over a period
 * ending now, per UTC hour or day ("bucket"), as rows (nilus.run_series,
 * for analysts) and as JSON (nilus.pipeline_series, GET
 * /tenants/{t}/pipelines/{resource_id}/series).
 *
 * Every bucket from the one holding the window's start to the one holding
 * now is a row, zeros when no run finished in it; the first and the last
 * count only their part inside the window, so the buckets add up to
 * pipeline_stats over the same period.  The window is split as for the
 * stats (rollup_window.c), hours only for hourly buckets: the rows read
 * follow the buckets, not the runs.
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "errors.h"
#include "json_out.h"
#include "period.h"
#include "result_rows.h"
#include "rollup_window.h"
#include "spi.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"

/* A part's time (the column at) in its series bucket: multiples of $21 seconds since the epoch. */
#define SERIES_BUCKET(at) \
	"date_bin($21 * interval '1 second', " at ", timestamptz '1970-01-01 00:00:00+00') AS bucket_start"
/* The finished runs of one edge of the split, of the resource (resource: its condition) or all. */
#define SERIES_RUNS(resource) \
	"SELECT " SERIES_BUCKET("started_at") ", 1 AS runs, (is_success)::int AS succeeded, " \
	"(NOT is_success)::int AS failed, (duration_sec IS NOT NULL)::int AS durations, " \
	"coalesce(duration_sec::numeric, 0) AS duration_sum, duration_sec AS duration_max " \
	"FROM nilus.pipeline_run WHERE tenant = $1 " resource \
	" AND started_at >= $%d AND started_at < $%d AND is_success IS NOT NULL"
/* ... or a rollup's rows over one range of it. */
#define SERIES_ROLLUP(resource) \
	"SELECT " SERIES_BUCKET("bucket") ", runs, succeeded, failed, durations, duration_sum, duration_max " \
	"FROM %s WHERE tenant = $1 " resource " AND bucket >= $%d AND bucket < $%d"

/*
 * $1 tenant, $2 resource_id, $3..$20 the split, $21 the bucket in seconds,
 * $22 and $23 the first and last bucket: every bucket a row, joined to the
 * split's totals per bucket (nilus_split_totals_sql).
 */
#define SERIES_ROWS \
	"SELECT s.bucket_start, coalesce(successful + failed, 0)::int8 AS total_runs, " \
	"       coalesce(successful, 0)::int8 AS successful_runs, coalesce(failed, 0)::int8 AS failed_runs, " \
	"       round(duration_sum / nullif(durations, 0), 2)::float8 AS avg_duration_sec, " \
	"       max_duration AS max_duration_sec " \
	"  FROM generate_series($22::timestamptz, $23::timestamptz, $21 * interval '1 second') AS s(bucket_start) " \
	"  LEFT JOIN totals b ON b.bucket_start = s.bucket_start ORDER BY s.bucket_start"
#define SERIES_TYPES \
	{TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, \
	TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, \
	TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, \
	TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, \
	INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID}

/* Periods up to this long default to hourly buckets, longer ones to daily. */
#define HOURLY_UP_TO (7 * USECS_PER_DAY)

/* The bucket's width in microseconds: "1h" or "1d", by default by the period's length. */
static int64
bucket_width(const char *bucket, NilusRange window)
{
	if (bucket == NULL)
		return window.hi - 1 - window.lo <= HOURLY_UP_TO ? USECS_PER_HOUR : USECS_PER_DAY;
	if (strcmp(bucket, "1h") == 0)
		return USECS_PER_HOUR;
	if (strcmp(bucket, "1d") == 0)
		return USECS_PER_DAY;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("bucket must be 1h or 1d, not \"%s\"", bucket),
			 errhint("1h gives one row per UTC hour, 1d one per UTC day."),
			 nilus_errparameter("bucket")));
	pg_unreachable();
}

/* Hourly buckets need the window in hours: its days are read as hours too. */
static SplitWindow
split_for(NilusRange window, int64 width)
{
	SplitWindow split = nilus_split_window(window, USECS_PER_SEC);

	if (width == USECS_PER_HOUR)
	{
		split.lower_hours.hi = split.upper_hours.hi;
		split.days.lo = split.days.hi = split.upper_hours.lo = split.upper_hours.hi;
	}
	return split;
}

/* The series statement over the split's parts: edge_runs and rollup_rows as nilus_split_totals_sql takes them. */
static const char *
series_sql(const char *edge_runs, const char *rollup_rows)
{
	return nilus_keep_string(psprintf("%s" SERIES_ROWS,
									  nilus_split_totals_sql(edge_runs, rollup_rows, 3, "bucket_start")));
}

/* Runs the series statement; its rows are in SPI_tuptable. */
static void
read_series(const char *tenant, const char *resource_id, NilusRange window, int64 width)
{
	static NilusPlan of_tenant = {NULL, 23, SERIES_TYPES};
	static NilusPlan of_resource = {NULL, 23, SERIES_TYPES};
	NilusPlan  *plan = resource_id ? &of_resource : &of_tenant;
	SplitWindow split = split_for(window, width);
	Datum		values[23];
	char		nulls[24] = "                       ";

	values[0] = CStringGetTextDatum(tenant);
	values[1] = resource_id ? CStringGetTextDatum(resource_id) : (Datum) 0;
	nulls[1] = resource_id ? ' ' : 'n';
	nilus_split_values(&split, values, 2);
	values[20] = Int32GetDatum((int32) (width / USECS_PER_SEC));
	values[21] = TimestampTzGetDatum(nilus_floor(window.lo, width));
	values[22] = TimestampTzGetDatum(nilus_floor(window.hi - 1, width));
	if (of_tenant.sql == NULL)
	{
		of_tenant.sql = series_sql(SERIES_RUNS("AND $2::text IS NULL"), SERIES_ROLLUP("AND $2::text IS NULL"));
		of_resource.sql = series_sql(SERIES_RUNS("AND resource_id = $2"), SERIES_ROLLUP("AND resource_id = $2"));
	}
	nilus_execute(plan, values, nulls, true, 0);
}

PG_FUNCTION_INFO_V1(nilus_run_series);

Datum
nilus_run_series(PG_FUNCTION_ARGS)
{
	char	   *tenant = nilus_arg_tenant_for(fcinfo, NILUS_RIGHT_OF(pipeline_series));
	char	   *resource_id = nilus_arg_text(fcinfo, "resource_id");
	NilusRange	window = nilus_period_window(nilus_arg_text(fcinfo, "period"),
											 GetCurrentTransactionStartTimestamp());
	int64		width = bucket_width(nilus_arg_text(fcinfo, "bucket"), window);

	if (resource_id != NULL)
		nilus_check_name(resource_id, "resource_id");
	nilus_spi_connect();
	read_series(tenant, resource_id, window, width);
	nilus_return_spi_rows(fcinfo);
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(nilus_pipeline_series);

Datum
nilus_pipeline_series(PG_FUNCTION_ARGS)
{
	char	   *tenant = nilus_arg_tenant_for(fcinfo, NILUS_RIGHT_OF(pipeline_series));
	char	   *resource_id = nilus_arg_name(fcinfo, "resource_id");
	char	   *period = nilus_arg_text(fcinfo, "period");
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	NilusRange	window = nilus_period_window(period, now);
	int64		width = bucket_width(nilus_arg_text(fcinfo, "bucket"), window);
	NilusJson	js;

	nj_init(&js);
	nilus_spi_connect();
	read_series(tenant, resource_id, window, width);
	nj_begin_object(&js);
	nj_key(&js, "resource_id");
	nj_string(&js, resource_id);
	nj_key(&js, "bucket");
	nj_string(&js, width == USECS_PER_HOUR ? "1h" : "1d");
	nilus_write_period(&js, period, window);
	nj_key(&js, "series");
	nj_begin_array(&js);
	for (uint64 i = 0; i < SPI_processed; i++)
		nj_row(&js, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
	nj_end_array(&js);
	nj_end_object(&js);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
