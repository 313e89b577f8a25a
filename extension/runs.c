/*
 * runs.c: storing pipeline runs, and the run object every route returns.
 *
 * The runtime posts a run when it starts and again when it ends; both posts
 * carry the required fields, and an optional field left out of a later post
 * keeps its stored value (an explicit null clears it).  duration_sec is the
 * runtime's when it sends one, else finished_at - started_at.
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "body.h"
#include "errors.h"
#include "json_out.h"
#include "run_filter.h"
#include "spi.h"
#include "time_range.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

/* The fields a run object may have that have columns of their own. */
static const char *const run_fields[] = {
	"run_id", "resource_id", "pipeline_name", "run_as_user", "started_at", "finished_at",
	"is_success", "duration_sec", "error", "records", "metadata", NULL
};
static const char *const required_run_fields[] = {
	"run_id", "resource_id", "pipeline_name", "started_at", NULL
};

/* Optional fields, in the order of store_run's "given" flags. */
enum
{
	GIVEN_RUN_AS_USER, GIVEN_FINISHED_AT, GIVEN_IS_SUCCESS, GIVEN_ERROR,
	GIVEN_RECORDS, GIVEN_METADATA, GIVEN_COUNT
};

typedef struct RunPost
{
	Datum		values[13];
	char		nulls[13];
	bool		given[GIVEN_COUNT];
} RunPost;

/* Body fields the run has no column for: they are kept in its metadata. */
static Jsonb *
unknown_fields(JsonbContainer *body)
{
	JsonbParseState *state = NULL;
	JsonbIterator *it = JsonbIteratorInit(body);
	JsonbValue	key;
	JsonbValue	value;
	JsonbIteratorToken token;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	while ((token = JsonbIteratorNext(&it, &key, true)) != WJB_END_OBJECT)
	{
		bool		known = false;

		if (token != WJB_KEY)
			continue;
		token = JsonbIteratorNext(&it, &value, true);
		for (const char *const *f = run_fields; *f && !known; f++)
			known = (int) strlen(*f) == key.val.string.len &&
				strncmp(*f, key.val.string.val, key.val.string.len) == 0;
		if (known)
			continue;
		pushJsonbValue(&state, WJB_KEY, &key);
		pushJsonbValue(&state, WJB_VALUE, &value);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

static bool
field_given(JsonbContainer *body, const char *key)
{
	JsonbValue	value;

	return getKeyJsonValueFromContainer(body, key, strlen(key), &value) != NULL;
}

static void
set_value(RunPost *post, int index, Datum value, bool isnull)
{
	post->values[index] = value;
	post->nulls[index] = isnull ? 'n' : ' ';
}

static void
set_text(RunPost *post, int index, JsonbContainer *body, const char *key, bool required)
{
	char	   *text = nilus_object_string(body, key, "body");

	if (text != NULL && required)
		nilus_check_name(text, key);
	set_value(post, index, text ? CStringGetTextDatum(text) : (Datum) 0, text == NULL);
}

static TimestampTz
set_timestamp(RunPost *post, int index, JsonbContainer *body, const char *key)
{
	char	   *text = nilus_object_string(body, key, "body");
	TimestampTz ts = text ? nilus_parse_timestamptz(text, key) : 0;

	set_value(post, index, TimestampTzGetDatum(ts), text == NULL);
	return ts;
}

/* An object-valued field; NULL when absent or null. */
static Jsonb *
object_field(JsonbContainer *body, const char *key)
{
	JsonbValue	value;

	if (nilus_object_get(body, key, &value) == NULL)
		return NULL;
	if (value.type != jbvBinary || !JsonContainerIsObject(value.val.binary.data))
		nilus_invalid(key, "%s must be a JSON object", key);
	return JsonbValueToJsonb(&value);
}

static void
set_duration(RunPost *post, int index, JsonbContainer *body)
{
	JsonbValue	value;
	double		duration;

	if (nilus_object_get(body, "duration_sec", &value) == NULL)
	{
		set_value(post, index, (Datum) 0, true);
		return;
	}
	if (value.type != jbvNumeric)
		nilus_invalid("duration_sec", "duration_sec must be a number of seconds");
	/* Through text, so that a value beyond float8 is a bad input, not an overflow error. */
	duration = strtod(DatumGetCString(DirectFunctionCall1(numeric_out,
														  NumericGetDatum(value.val.numeric))), NULL);
	if (duration < 0 || isinf(duration))
		nilus_invalid("duration_sec", "duration_sec must be a finite number >= 0");
	set_value(post, index, Float8GetDatum(duration), false);
}

static void
read_run_post(RunPost *post, Datum tenant, JsonbContainer *body)
{
	static const char *const optional[GIVEN_COUNT] = {
		"run_as_user", "finished_at", "is_success", "error", "records", "metadata"
	};
	pg_uuid_t  *run_id = palloc(sizeof(pg_uuid_t));
	TimestampTz started_at;
	TimestampTz finished_at;
	bool		is_success;
	Jsonb	   *object;

	nilus_object_check(body, "body", NULL, required_run_fields);
	set_value(post, 0, tenant, false);
	nilus_object_uuid(body, "run_id", "body", run_id);
	set_value(post, 1, UUIDPGetDatum(run_id), false);
	set_text(post, 2, body, "resource_id", true);
	set_text(post, 3, body, "pipeline_name", true);
	set_text(post, 4, body, "run_as_user", false);
	started_at = set_timestamp(post, 5, body, "started_at");
	finished_at = set_timestamp(post, 6, body, "finished_at");
	if (post->nulls[6] == ' ' && finished_at < started_at)
		nilus_invalid("finished_at", "finished_at must not be before started_at");
	set_value(post, 7, BoolGetDatum(is_success), !nilus_object_bool(body, "is_success", "body", &is_success));
	set_duration(post, 8, body);
	set_text(post, 9, body, "error", false);
	object = object_field(body, "records");
	set_value(post, 10, PointerGetDatum(object), object == NULL);
	object = object_field(body, "metadata");
	set_value(post, 11, PointerGetDatum(object), object == NULL);
	set_value(post, 12, PointerGetDatum(unknown_fields(body)), false);
	for (int i = 0; i < GIVEN_COUNT; i++)
		post->given[i] = field_given(body, optional[i]);
}

static ArrayType *
given_array(const bool *given)
{
	Datum		elems[GIVEN_COUNT];

	for (int i = 0; i < GIVEN_COUNT; i++)
		elems[i] = BoolGetDatum(given[i]);
	return construct_array(elems, GIVEN_COUNT, BOOLOID, 1, true, TYPALIGN_CHAR);
}

/*
 * One statement: insert, or update when anything differs (a repeated
 * identical post writes nothing).  xmax = 0 tells a fresh insert from an
 * update in ON CONFLICT's RETURNING.
 */
static NilusPlan upsert_run = {
	"INSERT INTO nilus.pipeline_run AS r (tenant, run_id, resource_id, pipeline_name, run_as_user, "
	"  started_at, finished_at, is_success, duration_sec, error, records, metadata) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
	"  coalesce($9, extract(epoch FROM $7 - $6)::float8), $10, $11, coalesce($12, '{}') || $13) "
	"ON CONFLICT (tenant, run_id) DO UPDATE SET "
	"  resource_id = EXCLUDED.resource_id, pipeline_name = EXCLUDED.pipeline_name, "
	"  run_as_user = CASE WHEN $14[1] THEN EXCLUDED.run_as_user ELSE r.run_as_user END, "
	"  started_at = EXCLUDED.started_at, "
	"  finished_at = CASE WHEN $14[2] THEN EXCLUDED.finished_at ELSE r.finished_at END, "
	"  is_success = CASE WHEN $14[3] THEN EXCLUDED.is_success ELSE r.is_success END, "
	"  duration_sec = coalesce($9, extract(epoch FROM "
	"     CASE WHEN $14[2] THEN EXCLUDED.finished_at ELSE r.finished_at END - EXCLUDED.started_at)::float8), "
	"  error = CASE WHEN $14[4] THEN EXCLUDED.error ELSE r.error END, "
	"  records = CASE WHEN $14[5] THEN EXCLUDED.records ELSE r.records END, "
	"  metadata = CASE WHEN $14[6] THEN coalesce($12, '{}') ELSE r.metadata END || $13, "
	"  updated_at = now() "
	"WHERE (r.resource_id, r.pipeline_name, r.run_as_user, r.started_at, r.finished_at, r.is_success, "
	"       r.duration_sec, r.error, r.records, r.metadata) IS DISTINCT FROM "
	"      (EXCLUDED.resource_id, EXCLUDED.pipeline_name, "
	"       CASE WHEN $14[1] THEN EXCLUDED.run_as_user ELSE r.run_as_user END, EXCLUDED.started_at, "
	"       CASE WHEN $14[2] THEN EXCLUDED.finished_at ELSE r.finished_at END, "
	"       CASE WHEN $14[3] THEN EXCLUDED.is_success ELSE r.is_success END, "
	"       coalesce($9, extract(epoch FROM "
	"         CASE WHEN $14[2] THEN EXCLUDED.finished_at ELSE r.finished_at END - EXCLUDED.started_at)::float8), "
	"       CASE WHEN $14[4] THEN EXCLUDED.error ELSE r.error END, "
	"       CASE WHEN $14[5] THEN EXCLUDED.records ELSE r.records END, "
	"       CASE WHEN $14[6] THEN coalesce($12, '{}') ELSE r.metadata END || $13) "
	"RETURNING " NILUS_RUN_COLUMNS ", xmax = 0 AS created",
	14, {TEXTOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID,
		FLOAT8OID, TEXTOID, JSONBOID, JSONBOID, JSONBOID, BOOLARRAYOID},
	.generic = true
};

static NilusPlan stored_run = {
	"SELECT " NILUS_RUN_COLUMNS ", false AS created FROM nilus.pipeline_run WHERE tenant = $1 AND run_id = $2",
	2, {TEXTOID, UUIDOID}
};

/*
 * A later post may move started_at past the finished_at stored before it;
 * the table's check catches that, and the caller gets a bad-input error.
 */
static void
upsert(Datum *values, char *nulls)
{
	MemoryContext context = CurrentMemoryContext;

	PG_TRY();
	{
		nilus_execute(&upsert_run, values, nulls, false, 0);
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(context);
		error = CopyErrorData();
		if (error->sqlerrcode != ERRCODE_CHECK_VIOLATION)
			PG_RE_THROW();
		FlushErrorState();
		nilus_invalid("started_at", "started_at must not be after the run's stored finished_at (constraint %s)",
					  error->constraint_name ? error->constraint_name : "of nilus.pipeline_run");
	}
	PG_END_TRY();
}

PG_FUNCTION_INFO_V1(nilus_store_run);

Datum
nilus_store_run(PG_FUNCTION_ARGS)
{
	char	   *tenant = nilus_arg_tenant(fcinfo, 0);
	JsonbContainer *body;
	RunPost		post;
	Datum		values[14];
	char		nulls[14];
	NilusJson	js;

	nilus_require_access(tenant, NILUS_RIGHT_RUNTIME);
	body = nilus_arg_body(fcinfo, 1);
	read_run_post(&post, PG_GETARG_DATUM(0), body);
	memcpy(values, post.values, sizeof(post.values));
	memcpy(nulls, post.nulls, sizeof(post.nulls));
	values[13] = PointerGetDatum(given_array(post.given));
	nulls[13] = ' ';

	nj_init(&js);
	SPI_connect();
	upsert(values, nulls);
	if (SPI_processed == 0)
		nilus_execute(&stored_run, values, nulls, false, 1);
	nj_row(&js, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
