/*
 * cdc_listings.c: the tenant's CDC offset and schema-history records,
 * filtered, newest first (record_insert_seq is unique, so the order is
 * total).  Each combination of filters gets its own statement, planned
 * once (filter_plan.c).
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "filter_plan.h"
#include "json_out.h"
#include "spi.h"
#include "time_range.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

enum CdcCondition
{
	CDC_RESOURCE, CDC_CONNECTOR, CDC_KEY, CDC_INSERTED_FROM, CDC_INSERTED_UNTIL
};

typedef struct CdcListing
{
	NilusFilterShape shape;		/* no CDC_KEY condition: no offset_key argument */
	const char *columns;		/* an item's fields, in order */
	const char *items_key;
	NilusPlan	pages[NILUS_FILTER_PLANS];
	NilusPlan	counts[NILUS_FILTER_PLANS];
} CdcListing;

#define CDC_CONDITION_TYPES {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}

static CdcListing offset_listing = {
	{"nilus.cdc_offset",
		{"resource_id =", "connector_name =", "offset_key =", "record_insert_ts >=", "record_insert_ts <"},
	CDC_CONDITION_TYPES},
	"id, resource_id, pipeline_name, connector_name, offset_key, offset_val, "
	"record_insert_ts, record_insert_seq",
	"offsets"
};

static CdcListing history_listing = {
	{"nilus.cdc_schema_history",
		{"resource_id =", "connector_name =", NULL, "record_insert_ts >=", "record_insert_ts <"},
	CDC_CONDITION_TYPES},
	"id, resource_id, pipeline_name, connector_name, history_data, history_data_seq, "
	"record_insert_ts, record_insert_seq",
	"schema_history"
};

/* One call: its parameters, and the page they ask for. */
typedef struct CdcQuery
{
	NilusFilterArgs args;
	NilusRange	range;			/* of record_insert_ts */
	int32		limit;
	int32		offset;
} CdcQuery;

static void
give_text_arg(NilusFilterArgs *args, int condition, FunctionCallInfo fcinfo, const char *name)
{
	char	   *value = nilus_arg_text(fcinfo, name);

	if (value != NULL)
		nilus_filter_give(args, condition, CStringGetTextDatum(value));
}

static void
read_cdc_query(CdcQuery *query, const CdcListing *listing, FunctionCallInfo fcinfo,
			   NilusRight right)
{
	char	   *tenant = nilus_arg_tenant_for(fcinfo, right);

	nilus_filter_args_init(&query->args, CStringGetTextDatum(tenant));
	give_text_arg(&query->args, CDC_RESOURCE, fcinfo, "resource_id");
	give_text_arg(&query->args, CDC_CONNECTOR, fcinfo, "connector_name");
	if (listing->shape.conditions[CDC_KEY] != NULL)
		give_text_arg(&query->args, CDC_KEY, fcinfo, "offset_key");
	query->range.lo = DT_NOBEGIN;
	query->range.hi = DT_NOEND;
	nilus_range_narrow(&query->range, fcinfo, "record_insert_ts_gte", "record_insert_ts_lte");
	nilus_filter_give_range(&query->args, CDC_INSERTED_FROM, query->range);
	query->limit = nilus_arg_limit(fcinfo);
	query->offset = nilus_arg_offset(fcinfo);
	nilus_filter_page(&query->args, query->limit, query->offset);
}

/*
 * The exact number of records the query selects.  A page that is neither
 * empty nor full ends the listing, so it tells the total without counting.
 */
static int64
cdc_total(CdcListing *listing, CdcQuery *query, uint64 page_rows)
{
	bool		isnull;

	if (page_rows > 0 && page_rows < (uint64) query->limit)
		return query->offset + (int64) page_rows;
	if (page_rows == 0 && query->offset == 0)
		return 0;
	nilus_execute(nilus_filter_plan(&listing->shape, listing->counts, &query->args,
									"SELECT count(*)", ""),
				  query->args.values, query->args.nulls, true, 1);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static Datum
cdc_list(CdcListing *listing, CdcQuery *query)
{
	uint64		rows = 0;
	int64		total = 0;
	NilusJson	js;

	nj_init(&js);
	nilus_spi_connect();
	nj_begin_object(&js);
	nj_key(&js, listing->items_key);
	nj_begin_array(&js);
	/* An empty range selects nothing; the statements would say so more slowly. */
	if (query->range.lo < query->range.hi)
	{
		nilus_execute(nilus_filter_plan(&listing->shape, listing->pages, &query->args,
										psprintf("SELECT %s", listing->columns),
										" ORDER BY record_insert_seq DESC LIMIT $7 OFFSET $8"),
					  query->args.values, query->args.nulls, true, 0);
		rows = SPI_processed;
		for (uint64 i = 0; i < rows; i++)
			nj_row(&js, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		total = cdc_total(listing, query, rows);
	}
	nj_end_page(&js, query->limit, query->offset, total);
	SPI_finish();
	return nj_result(&js);
}

PG_FUNCTION_INFO_V1(nilus_list_cdc_offsets);

Datum
nilus_list_cdc_offsets(PG_FUNCTION_ARGS)
{
	CdcQuery	query;

	read_cdc_query(&query, &offset_listing, fcinfo, NILUS_RIGHT_OF(list_cdc_offsets));
	PG_RETURN_DATUM(cdc_list(&offset_listing, &query));
}

PG_FUNCTION_INFO_V1(nilus_list_cdc_schema_history);

Datum
nilus_list_cdc_schema_history(PG_FUNCTION_ARGS)
{
	CdcQuery	query;

	read_cdc_query(&query, &history_listing, fcinfo, NILUS_RIGHT_OF(list_cdc_schema_history));
	PG_RETURN_DATUM(cdc_list(&history_listing, &query));
}
