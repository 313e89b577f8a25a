/*
 * cdc_store.c: appending CDC offset and schema-history batches.
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
#include "compat.h"
#include "errors.h"
#include "json_out.h"
#include "spi.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

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
	NilusRight	right;			/* of the function that stores this kind */
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
	NILUS_RIGHT_OF(store_offsets), "offsets", read_offset, &insert_offset, &same_offset, &update_latest_offsets
};
static const CdcKind history_kind = {
	NILUS_RIGHT_OF(store_schema_history), "records", read_history, &insert_history, &same_history, NULL
};

static char *
required_name(JsonbContainer *body, const char *key)
{
	char	   *value = nilus_object_string(body, key, "body");

	nilus_check_name(value, key);
	return value;
}

static NILUS_NORETURN void
id_conflict(const char *items_key, int i, const pg_uuid_t *id)
{
	char	   *field = psprintf("%s[%d].id", items_key, i);

	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("%s \"%s\" is already stored with different content", field,
					DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)))),
			 nilus_errparameter(field)));
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

/*
 * Under Citus, record_insert_seq is drawn from the sequence of the node that
 * writes the record (nilus.distribute() makes the column's default
 * nilus.next_record_insert_seq()).  A tenant's records stay in insertion
 * order as long as that sequence is ahead of the tenant's newest record: it
 * is not after the tenant's shards came from another node, or when a write
 * for it runs on the coordinator.  Then the first write moves it past.
 */
static void
sequence_catch_up(Datum tenant)
{
	static NilusPlan newest = {
		"SELECT greatest((SELECT max(record_insert_seq) FROM nilus.cdc_offset WHERE tenant = $1), "
		"                (SELECT max(record_insert_seq) FROM nilus.cdc_schema_history WHERE tenant = $1))",
		1, {TEXTOID}
	};
	/* The last value handed out on this node, or one below the first to come. */
	static NilusPlan last = {
		"SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END "
		"FROM nilus.cdc_record_insert_seq",
		0, {InvalidOid}
	};
	static NilusPlan advance = {
		"SELECT pg_catalog.setval('nilus.cdc_record_insert_seq', $1)", 1, {INT8OID}
	};
	bool		isnull;
	Datum		values[1];

	nilus_execute(&newest, &tenant, NULL, true, 1);
	values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return;
	nilus_execute(&last, NULL, NULL, true, 1);
	if (DatumGetInt64(values[0]) <= DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
																 SPI_tuptable->tupdesc, 1, &isnull)))
		return;

	/*
	 * Behind: no nextval may run between the check and setval (it would hand
	 * out a number setval then hands out again), so both run under a lock
	 * that conflicts with nextval's, until the transaction ends.
	 */
	LockRelationOid(get_relname_relid("cdc_record_insert_seq", get_namespace_oid("nilus", false)),
					ShareRowExclusiveLock);
	nilus_execute(&last, NULL, NULL, true, 1);
	if (DatumGetInt64(values[0]) > DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
																SPI_tuptable->tupdesc, 1, &isnull)))
		nilus_execute(&advance, values, NULL, false, 1);
}

/* A whole batch, checked before it is written. */
static Datum
store_batch(FunctionCallInfo fcinfo, const CdcKind *kind)
{
	char	   *tenant = nilus_arg_tenant_for(fcinfo, kind->right);
	const char *fields[] = {"resource_id", "connector_name", kind->items_key, NULL};
	JsonbContainer *body;
	JsonbContainer *items;
	CdcRecord  *records;
	bool	   *stored;
	int			count;
	int			nstored = 0;
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[3] = CStringGetTextDatum(nilus_arg_name(fcinfo, "pipeline_name"));
	body = nilus_arg_body(fcinfo);
	nilus_object_check(body, "body", fields, fields);
	values[0] = CStringGetTextDatum(tenant);
	values[2] = CStringGetTextDatum(required_name(body, "resource_id"));
	values[4] = CStringGetTextDatum(required_name(body, "connector_name"));
	items = nilus_object_array(body, kind->items_key, "body");
	count = JsonContainerSize(items);
	records = palloc0(sizeof(CdcRecord) * Max(count, 1));
	stored = palloc0(sizeof(bool) * Max(count, 1));
	for (int i = 0; i < count; i++)
		kind->read(nilus_array_object(items, i, kind->items_key),
				   psprintf("%s[%d]", kind->items_key, i), i, &records[i]);

	nilus_spi_connect();
	if (nilus_citus_loaded())
		sequence_catch_up(values[0]);
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
