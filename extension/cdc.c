/*
 * cdc.c: CDC offset and schema-history storage, their listings, and the
 * storage health check.
 *
 * Records are appended, never rewritten.  A POST is one batch: every record
 * is checked before the first is written, and the call is one transaction,
 * so the batch is stored whole or not at all.  Records are written one by
 * one in array order so that record_insert_seq follows the array.  A record
 * whose id is already stored with the same content is a retry and stores
 * nothing; with other content it is a conflict the client must hear about.
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "body.h"
#include "errors.h"
#include "json_out.h"
#include "spi.h"
#include "time_range.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* Debezium keys are short JSON; this keeps them well inside a btree entry. */
#define MAX_OFFSET_KEY_BYTES 2048

/*
 * One record of a batch.  Both kinds carry an id and two fields of their
 * own: offset_key and offset_val, or history_data and history_data_seq.
 */
typedef struct CdcRecord
{
	pg_uuid_t	id;
	bool		has_id;
	Datum		first;
	Datum		second;
	bool		second_null;
} CdcRecord;

/*
 * What tells the two kinds of batch apart.  insert and same take
 * $1 tenant, $2 id (NULL: generate one), $3 resource_id, $4 pipeline_name,
 * $5 connector_name, $6 first field, $7 second field.
 */
typedef struct CdcKind
{
	const char *items_key;		/* the body's array of records */
	void		(*read) (JsonbContainer *record, const char *where, int i, CdcRecord *out);
	NilusPlan  *insert;			/* returns the id when the record was stored */
	NilusPlan  *same;			/* is the stored record of id $2 this one? */
	NilusPlan  *after;			/* ($1 tenant, $2 ids stored), run once; or NULL */
} CdcKind;

static NilusPlan insert_offset = {
	"INSERT INTO nilus.cdc_offset "
	"  (tenant, id, resource_id, pipeline_name, connector_name, offset_key, offset_val) "
	"VALUES ($1, coalesce($2, gen_random_uuid()), $3, $4, $5, $6, $7) "
	"ON CONFLICT (tenant, id) DO NOTHING RETURNING id",
	7, {TEXTOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}
};

/*
 * The latest record per key is kept beside the history, updated once per
 * batch with the batch's last record of each key.  Rows are locked in key
 * order, so concurrent batches over the same keys queue instead of
 * deadlocking; of two records of one key the higher record_insert_seq wins,
 * whatever order they commit in.  The batch's records are found one by one
 * by primary key: as a plain "id = ANY" a plan made while the table was
 * small could filter the whole history instead, for the backend's lifetime.
 */
static NilusPlan update_latest_offsets = {
	"INSERT INTO nilus.cdc_offset_latest AS l (tenant, pipeline_name, offset_key, id, "
	"  connector_name, offset_val, record_insert_ts, record_insert_seq) "
	"SELECT DISTINCT ON (offset_key) tenant, pipeline_name, offset_key, id, connector_name, "
	"       offset_val, record_insert_ts, record_insert_seq "
	"FROM unnest($2) AS stored(id_stored), "
	"     LATERAL (SELECT * FROM nilus.cdc_offset "
	"              WHERE tenant = $1 AND id = id_stored LIMIT 1) AS o "
	"ORDER BY offset_key, record_insert_seq DESC "
	"ON CONFLICT (tenant, pipeline_name, offset_key) DO UPDATE SET "
	"  id = EXCLUDED.id, connector_name = EXCLUDED.connector_name, "
	"  offset_val = EXCLUDED.offset_val, record_insert_ts = EXCLUDED.record_insert_ts, "
	"  record_insert_seq = EXCLUDED.record_insert_seq "
	"WHERE l.record_insert_seq < EXCLUDED.record_insert_seq",
	2, {TEXTOID, UUIDARRAYOID}
};

static NilusPlan same_offset = {
	"SELECT (resource_id, pipeline_name, connector_name, offset_key, offset_val) "
	"       IS NOT DISTINCT FROM ($3, $4, $5, $6, $7) "
	"FROM nilus.cdc_offset WHERE tenant = $1 AND id = $2",
	7, {TEXTOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}
};

static NilusPlan insert_history = {
	"INSERT INTO nilus.cdc_schema_history "
	"  (tenant, id, resource_id, pipeline_name, connector_name, history_data, history_data_seq) "
	"VALUES ($1, coalesce($2, gen_random_uuid()), $3, $4, $5, $6, $7) "
	"ON CONFLICT (tenant, id) DO NOTHING RETURNING id",
	7, {TEXTOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID}
};

/* A retried batch may sit at another position: history_data_seq is no part of the content. */
static NilusPlan same_history = {
	"SELECT (resource_id, pipeline_name, connector_name, history_data) "
	"       IS NOT DISTINCT FROM ($3, $4, $5, $6) "
	"FROM nilus.cdc_schema_history WHERE tenant = $1 AND id = $2",
	7, {TEXTOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID}
};

static void
read_offset(JsonbContainer *record, const char *where, int i, CdcRecord *out)
{
	static const char *const fields[] = {"offset_key", "offset_val", "id", NULL};
	static const char *const required[] = {"offset_key", NULL};
	char	   *key;
	char	   *val;

	nilus_object_check(record, where, fields, required);
	key = nilus_object_string(record, "offset_key", where);
	if (key[0] == '\0' || strlen(key) > MAX_OFFSET_KEY_BYTES)
	{
		char	   *field = nilus_field_name(where, "offset_key");

		nilus_invalid(field, "%s must be 1 to %d bytes long", field, MAX_OFFSET_KEY_BYTES);
	}
	/* A string or null, as Debezium hands it over; JSON is sent as its text. */
	val = nilus_object_string(record, "offset_val", where);
	out->has_id = nilus_object_uuid(record, "id", where, &out->id);
	out->first = CStringGetTextDatum(key);
	out->second = val ? CStringGetTextDatum(val) : (Datum) 0;
	out->second_null = val == NULL;
}

static void
read_history(JsonbContainer *record, const char *where, int i, CdcRecord *out)
{
	static const char *const fields[] = {"history_data", "id", NULL};
	static const char *const required[] = {"history_data", NULL};

	nilus_object_check(record, where, fields, required);
	out->first = CStringGetTextDatum(nilus_object_string(record, "history_data", where));
	out->has_id = nilus_object_uuid(record, "id", where, &out->id);
	out->second = Int32GetDatum(i);
	out->second_null = false;
}

static const CdcKind offset_kind = {
	"offsets", read_offset, &insert_offset, &same_offset, &update_latest_offsets
};
static const CdcKind history_kind = {
	"records", read_history, &insert_history, &same_history, NULL
};

static char *
required_name(JsonbContainer *body, const char *key)
{
	char	   *value = nilus_object_string(body, key, "body");

	nilus_check_name(value, key);
	return value;
}

static pg_attribute_noreturn() void
id_conflict(const char *items_key, int i, const pg_uuid_t *id)
{
	char	   *field = psprintf("%s[%d].id", items_key, i);

	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("%s \"%s\" is already stored with different content", field,
					DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)))),
			 err_generic_string(PG_DIAG_COLUMN_NAME, field)));
	pg_unreachable();
}

/*
 * Writes record i; values hold the batch's $1, $3..$5.  Returns whether it
 * was stored, and then its id in record->id.
 */
static bool
store_record(const CdcKind *kind, Datum *values, char *nulls, CdcRecord *record, int i)
{
	bool		same = false;
	bool		isnull = true;

	values[1] = UUIDPGetDatum(&record->id);
	nulls[1] = record->has_id ? ' ' : 'n';
	values[5] = record->first;
	values[6] = record->second;
	nulls[6] = record->second_null ? 'n' : ' ';
	nilus_execute(kind->insert, values, nulls, false, 0);
	if (SPI_processed == 1)
	{
		record->id = *DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												  1, &isnull));
		SPI_freetuptable(SPI_tuptable);
		return true;
	}
	/* Only a given id can collide. */
	nilus_execute(kind->same, values, nulls, false, 1);
	if (SPI_processed == 1)
		same = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull || !same)
		id_conflict(kind->items_key, i, &record->id);
	SPI_freetuptable(SPI_tuptable);
	return false;
}

/* Runs the kind's statement over the ids of the records stored. */
static void
after_batch(const CdcKind *kind, Datum tenant, const CdcRecord *records, const bool *stored,
			int count, int nstored)
{
	Datum	   *ids;
	Datum		values[2];
	int			n = 0;

	if (kind->after == NULL || nstored == 0)
		return;
	ids = palloc(sizeof(Datum) * nstored);
	for (int i = 0; i < count; i++)
		if (stored[i])
			ids[n++] = UUIDPGetDatum(&records[i].id);
	values[0] = tenant;
	values[1] = PointerGetDatum(construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	nilus_execute(kind->after, values, NULL, false, 0);
}

static Datum
stored_result(int64 stored)
{
	NilusJson	js;

	nj_init(&js);
	nj_begin_object(&js);
	nj_key(&js, "stored");
	nj_int64(&js, stored);
	nj_end_object(&js);
	return nj_result(&js);
}

/* (tenant, pipeline_name, body): a whole batch, checked before it is written. */
static Datum
store_batch(FunctionCallInfo fcinfo, const CdcKind *kind)
{
	char	   *tenant = nilus_arg_tenant(fcinfo, 0);
	const char *fields[] = {"resource_id", "connector_name", kind->items_key, NULL};
	JsonbContainer *body;
	JsonbContainer *items;
	CdcRecord  *records;
	bool	   *stored;
	int			count;
	int			nstored = 0;
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	nilus_require_access(tenant, NILUS_RIGHT_RUNTIME);
	values[3] = CStringGetTextDatum(nilus_arg_name(fcinfo, 1, "pipeline_name"));
	body = nilus_arg_body(fcinfo, 2);
	nilus_object_check(body, "body", fields, fields);
	values[0] = PG_GETARG_DATUM(0);
	values[2] = CStringGetTextDatum(required_name(body, "resource_id"));
	values[4] = CStringGetTextDatum(required_name(body, "connector_name"));
	items = nilus_object_array(body, kind->items_key, "body");
	count = JsonContainerSize(items);
	records = palloc0(sizeof(CdcRecord) * Max(count, 1));
	stored = palloc0(sizeof(bool) * Max(count, 1));
	for (int i = 0; i < count; i++)
		kind->read(nilus_array_object(items, i, kind->items_key),
				   psprintf("%s[%d]", kind->items_key, i), i, &records[i]);

	SPI_connect();
	for (int i = 0; i < count; i++)
	{
		stored[i] = store_record(kind, values, nulls, &records[i], i);
		nstored += stored[i];
	}
	after_batch(kind, values[0], records, stored, count, nstored);
	SPI_finish();
	return stored_result(nstored);
}

PG_FUNCTION_INFO_V1(nilus_store_offsets);

Datum
nilus_store_offsets(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(store_batch(fcinfo, &offset_kind));
}

PG_FUNCTION_INFO_V1(nilus_store_schema_history);

Datum
nilus_store_schema_history(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(store_batch(fcinfo, &history_kind));
}

/*
 * The routes that read one pipeline: (tenant, pipeline_name).  Fills
 * values with $1 tenant, $2 pipeline_name and returns the name.
 */
static char *
pipeline_args(FunctionCallInfo fcinfo, Datum *values)
{
	char	   *tenant = nilus_arg_tenant(fcinfo, 0);
	char	   *pipeline_name;

	nilus_require_access(tenant, NILUS_RIGHT_RUNTIME);
	pipeline_name = nilus_arg_name(fcinfo, 1, "pipeline_name");
	values[0] = PG_GETARG_DATUM(0);
	values[1] = CStringGetTextDatum(pipeline_name);
	return pipeline_name;
}

/* {"pipeline_name": ..., <items_key>: [every row of plan]} */
static Datum
pipeline_rows(FunctionCallInfo fcinfo, NilusPlan *plan, const char *items_key)
{
	Datum		values[2];
	char	   *pipeline_name = pipeline_args(fcinfo, values);
	NilusJson	js;

	nj_init(&js);
	SPI_connect();
	nilus_execute(plan, values, NULL, true, 0);
	nj_begin_object(&js);
	nj_key(&js, "pipeline_name");
	nj_string(&js, pipeline_name);
	nj_key(&js, items_key);
	nj_begin_array(&js);
	for (uint64 i = 0; i < SPI_processed; i++)
		nj_row(&js, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
	nj_end_array(&js);
	nj_end_object(&js);
	SPI_finish();
	return nj_result(&js);
}

PG_FUNCTION_INFO_V1(nilus_get_offsets);

/* Reads the kept latest records: the cost is the number of keys, not the history. */
Datum
nilus_get_offsets(PG_FUNCTION_ARGS)
{
	static NilusPlan latest = {
		"SELECT offset_key, offset_val, connector_name, record_insert_ts "
		"FROM nilus.cdc_offset_latest WHERE tenant = $1 AND pipeline_name = $2 "
		"ORDER BY offset_key",
		2, {TEXTOID, TEXTOID}
	};

	PG_RETURN_DATUM(pipeline_rows(fcinfo, &latest, "offsets"));
}

PG_FUNCTION_INFO_V1(nilus_get_schema_history);

Datum
nilus_get_schema_history(PG_FUNCTION_ARGS)
{
	static NilusPlan history = {
		"SELECT id, history_data, record_insert_ts, record_insert_seq "
		"FROM nilus.cdc_schema_history WHERE tenant = $1 AND pipeline_name = $2 "
		"ORDER BY record_insert_seq",
		2, {TEXTOID, TEXTOID}
	};

	PG_RETURN_DATUM(pipeline_rows(fcinfo, &history, "records"));
}

PG_FUNCTION_INFO_V1(nilus_schema_history_exists);

Datum
nilus_schema_history_exists(PG_FUNCTION_ARGS)
{
	static NilusPlan exists = {
		"SELECT EXISTS (SELECT 1 FROM nilus.cdc_schema_history "
		"               WHERE tenant = $1 AND pipeline_name = $2)",
		2, {TEXTOID, TEXTOID}
	};
	Datum		values[2];
	char	   *pipeline_name = pipeline_args(fcinfo, values);
	bool		isnull;
	NilusJson	js;

	nj_init(&js);
	SPI_connect();
	nilus_execute(&exists, values, NULL, true, 1);
	nj_begin_object(&js);
	nj_key(&js, "pipeline_name");
	nj_string(&js, pipeline_name);
	nj_key(&js, "exists");
	nj_bool(&js, DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	nj_end_object(&js);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}

/*
 * Listings, newest first (record_insert_seq is unique, so the order is
 * total).  Each combination of filters gets its own statement, planned
 * once, so that it is read off the index made for its filter rather than
 * through a generic plan of "col = $n OR $n IS NULL".  Every statement takes
 * $1 tenant, $2 resource_id, $3 connector_name, $4 offset_key,
 * $5 from, $6 until, $7 limit, $8 offset.
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

/*
 * Storage health: each table answers an index probe for the tenant's newest
 * record, which is cheap whatever the history and tells when the storage was
 * last written.  A standby in recovery answers but cannot store.
 */
static void
probe_storage(NilusJson *js, const char *key, NilusPlan *plan, Datum *tenant)
{
	instr_time	start;
	instr_time	elapsed;
	bool		isnull;
	bool		found;

	INSTR_TIME_SET_CURRENT(start);
	nilus_execute(plan, tenant, NULL, true, 1);
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	found = SPI_processed == 1;

	nj_key(js, key);
	nj_begin_object(js);
	nj_key(js, "status");
	nj_string(js, "ok");
	nj_key(js, "latency_ms");
	nj_float8(js, INSTR_TIME_GET_MILLISEC(elapsed));
	nj_key(js, "last_record_insert_ts");
	if (found)
		nj_timestamptz(js, DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 1, &isnull)));
	else
		nj_null(js);
	nj_end_object(js);
}

PG_FUNCTION_INFO_V1(nilus_storage_health);

/* (tenant) */
Datum
nilus_storage_health(PG_FUNCTION_ARGS)
{
	static NilusPlan newest_offset = {
		"SELECT record_insert_ts FROM nilus.cdc_offset WHERE tenant = $1 "
		"ORDER BY record_insert_seq DESC LIMIT 1",
		1, {TEXTOID}
	};
	static NilusPlan newest_history = {
		"SELECT record_insert_ts FROM nilus.cdc_schema_history WHERE tenant = $1 "
		"ORDER BY record_insert_seq DESC LIMIT 1",
		1, {TEXTOID}
	};
	char	   *tenant = nilus_arg_tenant(fcinfo, 0);
	Datum		tenant_datum;
	bool		writable = !RecoveryInProgress();
	NilusJson	js;

	nilus_require_access(tenant, NILUS_RIGHT_RUNTIME);
	tenant_datum = PG_GETARG_DATUM(0);
	nj_init(&js);
	SPI_connect();
	nj_begin_object(&js);
	nj_key(&js, "status");
	nj_string(&js, writable ? "ok" : "read_only");
	nj_key(&js, "tenant");
	nj_string(&js, tenant);
	nj_key(&js, "writable");
	nj_bool(&js, writable);
	probe_storage(&js, "offset_storage", &newest_offset, &tenant_datum);
	probe_storage(&js, "schema_history_storage", &newest_history, &tenant_datum);
	nj_key(&js, "checked_at");
	nj_timestamptz(&js, GetCurrentTimestamp());
	nj_end_object(&js);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
