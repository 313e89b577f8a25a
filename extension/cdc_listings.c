/*
 * cdc_listings.c: the tenant's CDC offset and schema-history records,
 * filtered, newest first (record_insert_seq is unique, so the order is
 * total).  Each combination of filters gets its own statement, planned
 * once, so that it is read off the index made for its filter rather than
 * through a generic plan of "col = $n OR $n IS NULL".
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "json_out.h"
#include "spi.h"
#include "time_range.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/*
 * Every statement takes $1 tenant, $2 resource_id, $3 connector_name,
 * $4 offset_key, $5 from, $6 until, $7 limit, $8 offset.
 */
#define CDC_FILTER_RESOURCE 1
#define CDC_FILTER_CONNECTOR 2
#define CDC_FILTER_KEY 4
#define CDC_FILTER_FROM 8
#define CDC_FILTER_UNTIL 16
#define CDC_FILTER_PLANS 32

typedef struct CdcFilter
{
	Datum		tenant;
	char	   *resource_id;	/* NULL: any */
	char	   *connector_name; /* NULL: any */
	char	   *offset_key;		/* NULL: any */
	NilusRange	range;			/* of record_insert_ts */
	int32		limit;
	int32		offset;
} CdcFilter;

typedef struct CdcListing
{
	const char *table;
	const char *columns;		/* an item's fields, in order */
	const char *items_key;
	NilusPlan	pages[CDC_FILTER_PLANS];
	NilusPlan	counts[CDC_FILTER_PLANS];
} CdcListing;

static CdcListing offset_listing = {
	"nilus.cdc_offset",
	"id, resource_id, pipeline_name, connector_name, offset_key, offset_val, "
	"record_insert_ts, record_insert_seq",
	"offsets"
};

static CdcListing history_listing = {
	"nilus.cdc_schema_history",
	"id, resource_id, pipeline_name, connector_name, history_data, history_data_seq, "
	"record_insert_ts, record_insert_seq",
	"schema_history"
};

static int
cdc_filter_mask(const CdcFilter *filter)
{
	return (filter->resource_id ? CDC_FILTER_RESOURCE : 0) |
		(filter->connector_name ? CDC_FILTER_CONNECTOR : 0) |
		(filter->offset_key ? CDC_FILTER_KEY : 0) |
		(filter->range.lo != DT_NOBEGIN ? CDC_FILTER_FROM : 0) |
		(filter->range.hi != DT_NOEND ? CDC_FILTER_UNTIL : 0);
}

/* The statement "<select> FROM table WHERE <filters><tail>", made on first use. */
static NilusPlan *
cdc_filter_plan(NilusPlan *plans, const char *table, int mask, const char *select,
				const char *tail)
{
	static const Oid types[8] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, INT4OID};
	NilusPlan  *plan = &plans[mask];
	MemoryContext old;

	if (plan->sql != NULL)
		return plan;
	old = MemoryContextSwitchTo(TopMemoryContext);
	plan->sql = psprintf("SELECT %s FROM %s WHERE tenant = $1%s%s%s%s%s%s", select, table,
						 mask & CDC_FILTER_RESOURCE ? " AND resource_id = $2" : "",
						 mask & CDC_FILTER_CONNECTOR ? " AND connector_name = $3" : "",
						 mask & CDC_FILTER_KEY ? " AND offset_key = $4" : "",
						 mask & CDC_FILTER_FROM ? " AND record_insert_ts >= $5" : "",
						 mask & CDC_FILTER_UNTIL ? " AND record_insert_ts < $6" : "",
						 tail);
	MemoryContextSwitchTo(old);
	plan->nargs = 8;
	memcpy(plan->argtypes, types, sizeof(types));
	return plan;
}

static void
cdc_filter_values(const CdcFilter *filter, Datum *values, char *nulls)
{
	const char *texts[3] = {filter->resource_id, filter->connector_name, filter->offset_key};

	memset(nulls, ' ', 8);
	values[0] = filter->tenant;
	for (int i = 0; i < 3; i++)
	{
		values[i + 1] = texts[i] ? CStringGetTextDatum(texts[i]) : (Datum) 0;
		nulls[i + 1] = texts[i] ? ' ' : 'n';
	}
	values[4] = TimestampTzGetDatum(filter->range.lo);
	values[5] = TimestampTzGetDatum(filter->range.hi);
	values[6] = Int32GetDatum(filter->limit);
	values[7] = Int32GetDatum(filter->offset);
}

/*
 * The exact number of records the filter selects.  A page that is neither
 * empty nor full ends the listing, so it tells the total without counting.
 */
static int64
cdc_total(CdcListing *listing, int mask, const CdcFilter *filter, Datum *values,
		  const char *nulls, uint64 page_rows)
{
	bool		isnull;

	if (page_rows > 0 && page_rows < (uint64) filter->limit)
		return filter->offset + (int64) page_rows;
	if (page_rows == 0 && filter->offset == 0)
		return 0;
	nilus_execute(cdc_filter_plan(listing->counts, listing->table, mask, "count(*)", ""),
				  values, nulls, true, 1);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static Datum
cdc_list(CdcListing *listing, const CdcFilter *filter)
{
	int			mask = cdc_filter_mask(filter);
	Datum		values[8];
	char		nulls[8];
	uint64		rows = 0;
	int64		total = 0;
	NilusJson	js;

	cdc_filter_values(filter, values, nulls);
	nj_init(&js);
	SPI_connect();
	nj_begin_object(&js);
	nj_key(&js, listing->items_key);
	nj_begin_array(&js);
	/* An empty range selects nothing; the statements would say so more slowly. */
	if (filter->range.lo < filter->range.hi)
	{
		nilus_execute(cdc_filter_plan(listing->pages, listing->table, mask, listing->columns,
									  " ORDER BY record_insert_seq DESC LIMIT $7 OFFSET $8"),
					  values, nulls, true, 0);
		rows = SPI_processed;
		for (uint64 i = 0; i < rows; i++)
			nj_row(&js, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		total = cdc_total(listing, mask, filter, values, nulls, rows);
	}
	nj_end_array(&js);
	nj_key(&js, "limit");
	nj_int64(&js, filter->limit);
	nj_key(&js, "offset");
	nj_int64(&js, filter->offset);
	nj_key(&js, "total");
	nj_int64(&js, total);
	nj_end_object(&js);
	SPI_finish();
	return nj_result(&js);
}

/* (tenant, resource_id, connector_name, [offset_key,] gte, lte, limit, offset) */
static void
read_cdc_filter(CdcFilter *filter, FunctionCallInfo fcinfo, bool has_key)
{
	int			next = has_key ? 4 : 3;

	nilus_require_access(nilus_arg_tenant(fcinfo, 0), NILUS_RIGHT_READ);
	filter->tenant = PG_GETARG_DATUM(0);
	filter->resource_id = nilus_arg_text(fcinfo, 1);
	filter->connector_name = nilus_arg_text(fcinfo, 2);
	filter->offset_key = has_key ? nilus_arg_text(fcinfo, 3) : NULL;
	filter->range.lo = DT_NOBEGIN;
	filter->range.hi = DT_NOEND;
	nilus_range_narrow(&filter->range, fcinfo, next, next + 1);
	filter->limit = nilus_arg_limit(fcinfo, next + 2);
	filter->offset = nilus_arg_offset(fcinfo, next + 3);
}

PG_FUNCTION_INFO_V1(nilus_list_cdc_offsets);

/* (tenant, resource_id, connector_name, offset_key, record_insert_ts_gte, _lte, limit, offset) */
Datum
nilus_list_cdc_offsets(PG_FUNCTION_ARGS)
{
	CdcFilter	filter;

	read_cdc_filter(&filter, fcinfo, true);
	PG_RETURN_DATUM(cdc_list(&offset_listing, &filter));
}

PG_FUNCTION_INFO_V1(nilus_list_cdc_schema_history);

/* (tenant, resource_id, connector_name, record_insert_ts_gte, _lte, limit, offset) */
Datum
nilus_list_cdc_schema_history(PG_FUNCTION_ARGS)
{
	CdcFilter	filter;

	read_cdc_filter(&filter, fcinfo, false);
	PG_RETURN_DATUM(cdc_list(&history_listing, &filter));
}
