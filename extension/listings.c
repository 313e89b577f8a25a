/*
 * listings.c: the run listings, /pipelines (a tenant's runs) and /runs (one
 * resource's), newest first with run_id breaking ties, so that pages never
 * skip or repeat a run.  A page is read with its filter's statement
 * (run_filter.c), its total counted from the rollups (run_count.c).
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "json_out.h"
#include "run_count.h"
#include "run_filter.h"
#include "spi.h"
#include "time_range.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/memutils.h"

#define PAGE_PLANS (1 << NILUS_RUN_FILTER_BITS)

/* started_at: a date (that UTC day) or an exact timestamp. */
static void
narrow_by_started_at(NilusRange *range, const char *started_at)
{
	int			year,
				month,
				day;
	char		end;

	if (sscanf(started_at, "%4d-%2d-%2d%c", &year, &month, &day, &end) == 3 &&
		strlen(started_at) == 10)
	{
		TimestampTz day_start;

		if (!IS_VALID_JULIAN(year, month, day) || month < 1 || month > 12 || day < 1 ||
			day > day_tab[isleap(year)][month - 1])
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
					 errmsg("started_at must be a date YYYY-MM-DD or a timestamp, not \"%s\"", started_at),
					 err_generic_string(PG_DIAG_COLUMN_NAME, "started_at")));
		day_start = ((TimestampTz) (date2j(year, month, day) - POSTGRES_EPOCH_JDATE)) * USECS_PER_DAY;
		range->lo = Max(range->lo, day_start);
		range->hi = Min(range->hi, day_start + USECS_PER_DAY);
	}
	else
	{
		TimestampTz exact = nilus_parse_timestamptz(started_at, "started_at");

		range->lo = Max(range->lo, exact);
		range->hi = Min(range->hi, exact + 1);
	}
}

/* Reads the filters common to both listings, from argument `first` on. */
static void
read_run_filter(RunFilter *filter, FunctionCallInfo fcinfo, int user_arg, int outcome_arg,
				int started_at_arg)
{
	char	   *started_at = nilus_arg_text(fcinfo, started_at_arg);

	filter->run_as_user = nilus_arg_text(fcinfo, user_arg);
	filter->has_outcome = !PG_ARGISNULL(outcome_arg);
	filter->outcome = filter->has_outcome && PG_GETARG_BOOL(outcome_arg);
	filter->range.lo = DT_NOBEGIN;
	filter->range.hi = DT_NOEND;
	if (started_at != NULL)
		narrow_by_started_at(&filter->range, started_at);
	nilus_range_narrow(&filter->range, fcinfo, started_at_arg + 1, started_at_arg + 2);
}

static Datum
list_runs(const RunFilter *filter, int32 limit, int32 offset, const char *items_key)
{
	static NilusPlan pages[PAGE_PLANS];
	NilusPlan  *page = nilus_run_filter_plan(pages, nilus_run_filter_mask(filter),
											 "SELECT " NILUS_RUN_COLUMNS,
											 " ORDER BY started_at DESC, run_id DESC LIMIT $7 OFFSET $8");
	Datum		values[8];
	char		nulls[8];
	NilusJson	js;
	int64		total;

	nilus_run_filter_values(filter, values, nulls);
	values[6] = Int32GetDatum(limit);
	values[7] = Int32GetDatum(offset);

	nj_init(&js);
	SPI_connect();
	nj_begin_object(&js);
	nj_key(&js, items_key);
	nj_begin_array(&js);
	/* An empty range selects nothing; the statement would say so more slowly. */
	if (filter->range.lo < filter->range.hi)
	{
		nilus_execute(page, values, nulls, true, 0);
		for (uint64 i = 0; i < SPI_processed; i++)
			nj_row(&js, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
	}
	nj_end_array(&js);
	total = filter->range.lo < filter->range.hi ? nilus_count_runs(filter) : 0;
	nj_key(&js, "limit");
	nj_int64(&js, limit);
	nj_key(&js, "offset");
	nj_int64(&js, offset);
	nj_key(&js, "total");
	nj_int64(&js, total);
	nj_end_object(&js);
	SPI_finish();
	return nj_result(&js);
}

PG_FUNCTION_INFO_V1(nilus_list_pipelines);

/* (tenant, run_as_user, is_success, resource_id, started_at, _gte, _lte, limit, offset) */
Datum
nilus_list_pipelines(PG_FUNCTION_ARGS)
{
	RunFilter	filter;

	filter.tenant = nilus_arg_tenant(fcinfo, 0);
	nilus_require_access(filter.tenant, NILUS_RIGHT_READ);
	read_run_filter(&filter, fcinfo, 1, 2, 4);
	filter.resource_id = nilus_arg_text(fcinfo, 3);
	PG_RETURN_DATUM(list_runs(&filter, nilus_arg_limit(fcinfo, 7), nilus_arg_offset(fcinfo, 8),
							  "pipelines"));
}

PG_FUNCTION_INFO_V1(nilus_list_runs);

/* (tenant, resource_id, run_as_user, is_success, started_at, _gte, _lte, limit, offset) */
Datum
nilus_list_runs(PG_FUNCTION_ARGS)
{
	RunFilter	filter;

	filter.tenant = nilus_arg_tenant(fcinfo, 0);
	nilus_require_access(filter.tenant, NILUS_RIGHT_READ);
	filter.resource_id = nilus_arg_name(fcinfo, 1, "resource_id");
	read_run_filter(&filter, fcinfo, 2, 3, 4);
	PG_RETURN_DATUM(list_runs(&filter, nilus_arg_limit(fcinfo, 7), nilus_arg_offset(fcinfo, 8),
							  "runs"));
}
