/*
 * listings.c: the run listings, /pipelines (a tenant's runs) and /runs (one
 * resource's), newest first with run_id breaking ties, so that pages never
 * skip or repeat a run.  A page is read with its filter's statement
 * (run_filter.c), its total counted from the rollups (run_count.c).
 */
#include "postgres.h"

#include "errors.h"
#include "access.h"
#include "args.h"
#include "json_out.h"
#include "nilus_rfc3339.h"
#include "run_count.h"
#include "run_filter.h"
#include "spi.h"
#include "time_range.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"

/* started_at: a date (that UTC day) or an exact timestamp. */
static void
narrow_by_started_at(NilusRange *range, const char *started_at)
{
	int			year,
				month,
				day;

	if (nilus_day_syntax(started_at, &year, &month, &day))
	{
		TimestampTz day_start;

		if (!nilus_day_valid(year, month, day))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
					 errmsg("started_at must be a date YYYY-MM-DD or a timestamp, not \"%s\"", started_at),
					 errdetail("There is no such day."),
					 nilus_errparameter("started_at")));
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

/* Reads the filters both listings take, all but resource_id. */
static void
read_run_filter(NilusRunFilter *filter, FunctionCallInfo fcinfo)
{
	char	   *started_at = nilus_arg_text(fcinfo, "started_at");

	filter->run_as_user = nilus_arg_text(fcinfo, "run_as_user");
	filter->outcome = false;
	filter->has_outcome = nilus_arg_bool(fcinfo, "is_success", &filter->outcome);
	filter->range.lo = DT_NOBEGIN;
	filter->range.hi = DT_NOEND;
	if (started_at != NULL)
		narrow_by_started_at(&filter->range, started_at);
	nilus_range_narrow(&filter->range, fcinfo, "started_at_gte", "started_at_lte");
}

static Datum
list_runs(const NilusRunFilter *filter, int32 limit, int32 offset, const char *items_key)
{
	static NilusPlan pages[NILUS_FILTER_PLANS];
	NilusFilterArgs args;
	NilusJson	js;
	int64		total;

	nilus_run_filter_args(filter, &args);
	nilus_filter_page(&args, limit, offset);
	nj_init(&js);
	nilus_spi_connect();
	nj_begin_object(&js);
	nj_key(&js, items_key);
	nj_begin_array(&js);
	/* An empty range selects nothing; the statement would say so more slowly. */
	if (filter->range.lo < filter->range.hi)
	{
		nilus_execute(nilus_run_filter_plan(pages, &args,
											psprintf("SELECT %s", nilus_run_columns()),
											" ORDER BY started_at DESC, run_id DESC LIMIT $7 OFFSET $8"),
					  args.values, args.nulls, true, 0);
		for (uint64 i = 0; i < SPI_processed; i++)
			nj_row(&js, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
	}
	total = filter->range.lo < filter->range.hi ? nilus_count_runs(filter) : 0;
	nj_end_page(&js, limit, offset, total);
	SPI_finish();
	return nj_result(&js);
}

PG_FUNCTION_INFO_V1(nilus_list_pipelines);

Datum
nilus_list_pipelines(PG_FUNCTION_ARGS)
{
	NilusRunFilter filter;

	filter.tenant = nilus_arg_tenant_for(fcinfo, NILUS_RIGHT_OF(list_pipelines));
	read_run_filter(&filter, fcinfo);
	filter.resource_id = nilus_arg_text(fcinfo, "resource_id");
	PG_RETURN_DATUM(list_runs(&filter, nilus_arg_limit(fcinfo), nilus_arg_offset(fcinfo),
							  "pipelines"));
}

PG_FUNCTION_INFO_V1(nilus_list_runs);

Datum
nilus_list_runs(PG_FUNCTION_ARGS)
{
	NilusRunFilter filter;

	filter.tenant = nilus_arg_tenant_for(fcinfo, NILUS_RIGHT_OF(list_runs));
	filter.resource_id = nilus_arg_name(fcinfo, "resource_id");
	read_run_filter(&filter, fcinfo);
	PG_RETURN_DATUM(list_runs(&filter, nilus_arg_limit(fcinfo), nilus_arg_offset(fcinfo),
							  "runs"));
}
