/*
 * runs.c: storing pipeline runs (store_run).
 *
 * The runtime posts a run when it starts and again when it ends; both posts
 * carry the required fields, and an optional field left out of a later post
 * keeps its stored value (an explicit null clears it).  duration_sec is the
 * runtime's when it sends one, else finished_at - started_at.
 *
 * The fields are those of NILUS_RUN_FIELDS (nilus_api.h): the body is read
 * and the upsert statement written from that list, so an ordinary new field
 * is a row there and a column in an upgrade script.
 */
#include "postgres.h"

#include <math.h>

#include "access.h"
#include "args.h"
#include "body.h"
#include "errors.h"
#include "json_out.h"
#include "nilus_api.h"
#include "run_filter.h"
#include "spi.h"
#include "time_range.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

#define RUN_FIELD_ENUM(name, kind, required, nullable, description) RUN_##name,
enum RunField
{
	NILUS_RUN_FIELDS(RUN_FIELD_ENUM)
	RUN_FIELD_COUNT
};
#undef RUN_FIELD_ENUM

typedef struct RunFieldInfo
{
	const char *name;
	NilusFieldKind kind;
	bool		required;
} RunFieldInfo;

#define RUN_FIELD_INFO(name, kind, required, nullable, description) {#name, kind, required},
static const RunFieldInfo run_fields[RUN_FIELD_COUNT] = {NILUS_RUN_FIELDS(RUN_FIELD_INFO)};
#undef RUN_FIELD_INFO

/*
 * The upsert's arguments: the tenant, then one per field in the list's
 * order, the fields given (a boolean per field) and the body's unknown
 * fields (jsonb).  Argument i is the statement's $(i + 1).
 */
#define TENANT_ARG 0
#define FIELD_ARG(field) ((field) + 1)
#define GIVEN_ARG FIELD_ARG(RUN_FIELD_COUNT)
#define UNKNOWN_ARG (GIVEN_ARG + 1)
#define UPSERT_ARGS (UNKNOWN_ARG + 1)
#define PARAM(arg) ((arg) + 1)

/* stored_run below takes run_id as $2. */
StaticAssertDecl(RUN_run_id == 0, "run_id must be the first run field");

typedef struct RunPost
{
	Datum		values[UPSERT_ARGS];
	char		nulls[UPSERT_ARGS];
} RunPost;

static const char *const *
known_field_names(void)
{
	static const char *names[RUN_FIELD_COUNT + 1];

	for (int f = 0; f < RUN_FIELD_COUNT; f++)
		names[f] = run_fields[f].name;
	return names;
}

static const char *const *
required_field_names(void)
{
	static const char *names[RUN_FIELD_COUNT + 1];
	int			n = 0;

	for (int f = 0; f < RUN_FIELD_COUNT; f++)
		if (run_fields[f].required)
			names[n++] = run_fields[f].name;
	return names;
}

/* Body fields the run has no column for: they are kept in its metadata. */
static Jsonb *
unknown_fields(JsonbContainer *body)
{
	const char *const *known = known_field_names();
	JsonbParseState *state = NULL;
	JsonbIterator *it = JsonbIteratorInit(body);
	JsonbValue	key;
	JsonbValue	value;
	JsonbIteratorToken token;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	while ((token = JsonbIteratorNext(&it, &key, true)) != WJB_END_OBJECT)
	{
		bool		is_known = false;

		if (token != WJB_KEY)
			continue;
		token = JsonbIteratorNext(&it, &value, true);
		for (const char *const *f = known; *f && !is_known; f++)
			is_known = (int) strlen(*f) == key.val.string.len &&
				strncmp(*f, key.val.string.val, key.val.string.len) == 0;
		if (is_known)
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

/* A number >= 0, through text so that a value beyond float8 is a bad input, not an overflow error. */
static bool
number_field(JsonbContainer *body, const char *key, Datum *out)
{
	JsonbValue	value;
	double		number;

	if (nilus_object_get(body, key, &value) == NULL)
		return false;
	if (value.type != jbvNumeric)
		nilus_invalid(key, "%s must be a number", key);
	number = strtod(DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(value.val.numeric))), NULL);
	if (number < 0 || isinf(number))
		nilus_invalid(key, "%s must be a finite number >= 0", key);
	*out = Float8GetDatum(number);
	return true;
}

/* An object-valued field. */
static bool
object_field(JsonbContainer *body, const char *key, Datum *out)
{
	JsonbValue	value;

	if (nilus_object_get(body, key, &value) == NULL)
		return false;
	if (value.type != jbvBinary || !JsonContainerIsObject(value.val.binary.data))
		nilus_invalid(key, "%s must be a JSON object", key);
	*out = PointerGetDatum(JsonbValueToJsonb(&value));
	return true;
}

/* Reads field f of the body into *out by its kind; false when absent or null. */
static bool
read_field(JsonbContainer *body, const RunFieldInfo *field, Datum *out)
{
	char	   *text;
	pg_uuid_t  *uuid;
	bool		boolean;

	switch (field->kind)
	{
		case NILUS_FIELD_UUID:
			uuid = palloc(sizeof(pg_uuid_t));
			if (!nilus_object_uuid(body, field->name, "body", uuid))
				return false;
			*out = UUIDPGetDatum(uuid);
			return true;
		case NILUS_FIELD_STRING:
			if ((text = nilus_object_string(body, field->name, "body")) == NULL)
				return false;
			if (field->required)
				nilus_check_name(text, field->name);
			*out = CStringGetTextDatum(text);
			return true;
		case NILUS_FIELD_TIMESTAMP:
			if ((text = nilus_object_string(body, field->name, "body")) == NULL)
				return false;
			*out = TimestampTzGetDatum(nilus_parse_timestamptz(text, field->name));
			return true;
		case NILUS_FIELD_BOOLEAN:
			if (!nilus_object_bool(body, field->name, "body", &boolean))
				return false;
			*out = BoolGetDatum(boolean);
			return true;
		case NILUS_FIELD_NUMBER:
			return number_field(body, field->name, out);
		case NILUS_FIELD_OBJECT:
			return object_field(body, field->name, out);
	}
	pg_unreachable();
}

static ArrayType *
given_array(JsonbContainer *body)
{
	Datum		given[RUN_FIELD_COUNT];

	for (int f = 0; f < RUN_FIELD_COUNT; f++)
		given[f] = BoolGetDatum(field_given(body, run_fields[f].name));
	return construct_array(given, RUN_FIELD_COUNT, BOOLOID, 1, true, TYPALIGN_CHAR);
}

static void
read_run_post(RunPost *post, const char *tenant, JsonbContainer *body)
{
	nilus_object_check(body, "body", NULL, required_field_names());
	post->values[TENANT_ARG] = CStringGetTextDatum(tenant);
	post->nulls[TENANT_ARG] = ' ';
	for (int f = 0; f < RUN_FIELD_COUNT; f++)
	{
		bool		present = read_field(body, &run_fields[f], &post->values[FIELD_ARG(f)]);

		post->nulls[FIELD_ARG(f)] = present ? ' ' : 'n';
	}
	if (post->nulls[FIELD_ARG(RUN_finished_at)] == ' ' &&
		DatumGetTimestampTz(post->values[FIELD_ARG(RUN_finished_at)]) <
		DatumGetTimestampTz(post->values[FIELD_ARG(RUN_started_at)]))
		nilus_invalid("finished_at", "finished_at must not be before started_at");
	post->values[GIVEN_ARG] = PointerGetDatum(given_array(body));
	post->nulls[GIVEN_ARG] = ' ';
	post->values[UNKNOWN_ARG] = PointerGetDatum(unknown_fields(body));
	post->nulls[UNKNOWN_ARG] = ' ';
}

/*
 * The value a post stores in field f's column: the posted one, but for the
 * fields derived from others.  On insert: ...
 */
static void
insert_value(StringInfo sql, int f)
{
	switch (f)
	{
		case RUN_duration_sec:
			appendStringInfo(sql, "coalesce($%d, extract(epoch FROM $%d - $%d)::float8)",
							 PARAM(FIELD_ARG(f)), PARAM(FIELD_ARG(RUN_finished_at)),
							 PARAM(FIELD_ARG(RUN_started_at)));
			break;
		case RUN_metadata:
			/* Unknown fields are merged into the metadata. */
			appendStringInfo(sql, "coalesce($%d, '{}') || $%d", PARAM(FIELD_ARG(f)), PARAM(UNKNOWN_ARG));
			break;
		default:
			appendStringInfo(sql, "$%d", PARAM(FIELD_ARG(f)));
	}
}

/* ... and on update: an optional field left out keeps its stored value. */
static void
kept_value(StringInfo sql, int f)
{
	const char *name = run_fields[f].name;

	if (f == RUN_duration_sec)
	{
		appendStringInfo(sql, "coalesce($%d, extract(epoch FROM ", PARAM(FIELD_ARG(f)));
		kept_value(sql, RUN_finished_at);
		appendStringInfoString(sql, " - ");
		kept_value(sql, RUN_started_at);
		appendStringInfoString(sql, ")::float8)");
	}
	else if (run_fields[f].required)
		appendStringInfo(sql, "EXCLUDED.%s", name);
	else
		appendStringInfo(sql, "CASE WHEN $%d[%d] THEN EXCLUDED.%s ELSE r.%s%s END",
						 PARAM(GIVEN_ARG), f + 1, name, name,
						 f == RUN_metadata ? psprintf(" || $%d", PARAM(UNKNOWN_ARG)) : "");
}

/*
 * One statement: insert, or update when anything differs (a repeated
 * identical post writes nothing).  xmax = 0 tells a fresh insert from an
 * update in ON CONFLICT's RETURNING.
 */
static char *
upsert_sql(void)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO nilus.pipeline_run AS r (tenant, %s) VALUES ($1",
					 nilus_run_columns());
	for (int f = 0; f < RUN_FIELD_COUNT; f++)
	{
		appendStringInfoString(&sql, ", ");
		insert_value(&sql, f);
	}
	appendStringInfoString(&sql, ") ON CONFLICT (tenant, run_id) DO UPDATE SET ");
	for (int f = RUN_run_id + 1; f < RUN_FIELD_COUNT; f++)
	{
		appendStringInfo(&sql, "%s = ", run_fields[f].name);
		kept_value(&sql, f);
		appendStringInfoString(&sql, ", ");
	}
	/* The proposed row's default, now(): Citus takes only immutable functions here. */
	appendStringInfoString(&sql, "updated_at = EXCLUDED.updated_at WHERE (");
	for (int f = RUN_run_id + 1; f < RUN_FIELD_COUNT; f++)
		appendStringInfo(&sql, "%sr.%s", f > RUN_run_id + 1 ? ", " : "", run_fields[f].name);
	appendStringInfoString(&sql, ") IS DISTINCT FROM (");
	for (int f = RUN_run_id + 1; f < RUN_FIELD_COUNT; f++)
	{
		if (f > RUN_run_id + 1)
			appendStringInfoString(&sql, ", ");
		kept_value(&sql, f);
	}
	appendStringInfo(&sql, ") RETURNING %s, xmax = 0 AS created", nilus_run_columns());
	return sql.data;
}

static Oid
field_type(NilusFieldKind kind)
{
	switch (kind)
	{
		case NILUS_FIELD_UUID:
			return UUIDOID;
		case NILUS_FIELD_STRING:
			return TEXTOID;
		case NILUS_FIELD_TIMESTAMP:
			return TIMESTAMPTZOID;
		case NILUS_FIELD_BOOLEAN:
			return BOOLOID;
		case NILUS_FIELD_NUMBER:
			return FLOAT8OID;
		case NILUS_FIELD_OBJECT:
			return JSONBOID;
	}
	pg_unreachable();
}

static NilusPlan *
upsert_plan(void)
{
	static NilusPlan upsert = {.generic = true};

	if (upsert.sql == NULL)
	{
		StaticAssertStmt(UPSERT_ARGS <= NILUS_PLAN_MAX_ARGS, "too many run fields for a plan");
		upsert.argtypes[TENANT_ARG] = TEXTOID;
		for (int f = 0; f < RUN_FIELD_COUNT; f++)
			upsert.argtypes[FIELD_ARG(f)] = field_type(run_fields[f].kind);
		upsert.argtypes[GIVEN_ARG] = BOOLARRAYOID;
		upsert.argtypes[UNKNOWN_ARG] = JSONBOID;
		upsert.nargs = UPSERT_ARGS;
		upsert.sql = nilus_keep_string(upsert_sql());
	}
	return &upsert;
}

static NilusPlan *
stored_run_plan(void)
{
	static NilusPlan stored = {NULL, 2, {TEXTOID, UUIDOID}};

	if (stored.sql == NULL)
		stored.sql = nilus_keep_string(psprintf("SELECT %s, false AS created FROM nilus.pipeline_run "
												"WHERE tenant = $1 AND run_id = $2",
												nilus_run_columns()));
	return &stored;
}

/*
 * A later post may move started_at past the finished_at stored before it;
 * the table's check catches that, and the caller gets a bad-input error.
 */
static void
upsert(RunPost *post)
{
	MemoryContext context = CurrentMemoryContext;

	PG_TRY();
	{
		nilus_execute(upsert_plan(), post->values, post->nulls, false, 0);
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
	char	   *tenant = nilus_arg_tenant_for(fcinfo, NILUS_RIGHT_OF(store_run));
	RunPost		post;
	NilusJson	js;

	read_run_post(&post, tenant, nilus_arg_body(fcinfo));
	nj_init(&js);
	nilus_spi_connect();
	upsert(&post);
	if (SPI_processed == 0)
		nilus_execute(stored_run_plan(), post.values, post.nulls, false, 1);
	nj_row(&js, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
