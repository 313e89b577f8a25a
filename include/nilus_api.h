/*
 * nilus_api.h: the facts both halves of nilus state, the extension (which
 * enforces them) and the nilus-manager shim (which documents and pre-checks
 * them).  Plain C11, no PostgreSQL headers, so that either side can include
 * it; a fact stated here is stated nowhere else in C.
 *
 * The lists are X-macros: a user defines X to what it needs of each row and
 * expands the list, e.g. the extension makes an enum of the functions'
 * rights, the shim a table of their names.
 */
#ifndef NILUS_API_H
#define NILUS_API_H

#include <stdbool.h>
#include <string.h>

/*
 * A tenant: 1 to 63 letters, digits, '_', '-' and '.'.  A name (resource_id,
 * pipeline_name, connector_name and the like): 1 to 255 bytes, no control
 * characters.
 */
#define NILUS_TENANT_MAX_LENGTH 63
#define NILUS_NAME_MAX_BYTES 255

/* The most event loops nilus-manager runs: --loops, nilus.http_loops. */
#define NILUS_LOOPS_MAX 256

/* Page size of every listing ("limit"), and its default. */
#define NILUS_LIMIT_MIN 1
#define NILUS_LIMIT_MAX 1000
#define NILUS_LIMIT_DEFAULT 50

/* The stats window ("period"): <n>m, <n>h, <n>d or <n>w, at most this long. */
#define NILUS_PERIOD_MAX_DAYS 366
#define NILUS_PERIOD_DEFAULT "24h"
/* What both halves answer to a bad period: "period " NILUS_PERIOD_RULE. */
#define NILUS_NUMBER_TEXT_(x) #x
#define NILUS_NUMBER_TEXT(x) NILUS_NUMBER_TEXT_(x)
#define NILUS_PERIOD_RULE \
	"must be <n>m, <n>h, <n>d or <n>w with n >= 1, at most " NILUS_NUMBER_TEXT(NILUS_PERIOD_MAX_DAYS) "d"

/* The rights a token may carry: X(enum suffix, name in tokens and errors). */
#define NILUS_RIGHTS(X) \
	X(READ, "read") \
	X(RUNTIME, "runtime")

#define NILUS_RIGHT_ENUM(suffix, name) NILUS_RIGHT_##suffix,
typedef enum NilusRight
{
	NILUS_RIGHTS(NILUS_RIGHT_ENUM)
	NILUS_RIGHT_COUNT
} NilusRight;
#undef NILUS_RIGHT_ENUM

static inline const char *
nilus_right_name(NilusRight right)
{
#define NILUS_RIGHT_NAME(suffix, name) name,
	static const char *const names[NILUS_RIGHT_COUNT] = {NILUS_RIGHTS(NILUS_RIGHT_NAME)};
#undef NILUS_RIGHT_NAME

	return (unsigned) right < NILUS_RIGHT_COUNT ? names[right] : NULL;
}

/*
 * The SQL functions of the HTTP API (schema nilus), each with the right a
 * token needs to call it: X(function name, NilusRight).  The shim serves one
 * route per function; the extension checks the right in the function.
 */
#define NILUS_API_FUNCTIONS(X) \
	X(health, NILUS_RIGHT_READ) \
	X(info, NILUS_RIGHT_READ) \
	X(list_pipelines, NILUS_RIGHT_READ) \
	X(list_runs, NILUS_RIGHT_READ) \
	X(pipeline_stats, NILUS_RIGHT_READ) \
	X(list_cdc_offsets, NILUS_RIGHT_READ) \
	X(list_cdc_schema_history, NILUS_RIGHT_READ) \
	X(tenant_stats, NILUS_RIGHT_READ) \
	X(pipeline_series, NILUS_RIGHT_READ) \
	X(store_run, NILUS_RIGHT_RUNTIME) \
	X(get_state, NILUS_RIGHT_RUNTIME) \
	X(store_state, NILUS_RIGHT_RUNTIME) \
	X(get_offsets, NILUS_RIGHT_RUNTIME) \
	X(store_offsets, NILUS_RIGHT_RUNTIME) \
	X(get_schema_history, NILUS_RIGHT_RUNTIME) \
	X(store_schema_history, NILUS_RIGHT_RUNTIME) \
	X(schema_history_exists, NILUS_RIGHT_RUNTIME) \
	X(storage_health, NILUS_RIGHT_RUNTIME)

/* NILUS_RIGHT_OF(list_runs): the right of one function, a compile-time constant. */
#define NILUS_RIGHT_OF(function) ((NilusRight) NILUS_RIGHT_OF_##function)
#define NILUS_RIGHT_OF_ENUM(function, right) NILUS_RIGHT_OF_##function = right,
enum NilusRightOf
{
	NILUS_API_FUNCTIONS(NILUS_RIGHT_OF_ENUM)
};
#undef NILUS_RIGHT_OF_ENUM

/* The right a function needs, by its name; -1 for a name not listed. */
static inline int
nilus_right_of_function(const char *function)
{
#define NILUS_RIGHT_ROW(name, right) {#name, right},
	static const struct
	{
		const char *function;
		NilusRight	right;
	}			rows[] = {NILUS_API_FUNCTIONS(NILUS_RIGHT_ROW)};
#undef NILUS_RIGHT_ROW

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (strcmp(rows[i].function, function) == 0)
			return (int) rows[i].right;
	return -1;
}

/*
 * The JSON kinds of run fields.  Each maps to a JSON Schema type and format
 * (nilus_field_json_type, nilus_field_json_format) for the OpenAPI document,
 * and to the check and column type the extension gives it.  A required
 * string is a name: 1 to 255 bytes, no control characters.
 */
typedef enum NilusFieldKind
{
	NILUS_FIELD_UUID,			/* a string holding a UUID */
	NILUS_FIELD_STRING,
	NILUS_FIELD_TIMESTAMP,		/* a string holding an RFC 3339 timestamp */
	NILUS_FIELD_BOOLEAN,
	NILUS_FIELD_NUMBER,			/* finite, >= 0 */
	NILUS_FIELD_OBJECT
} NilusFieldKind;

static inline const char *
nilus_field_json_type(NilusFieldKind kind)
{
	switch (kind)
	{
		case NILUS_FIELD_BOOLEAN:
			return "boolean";
		case NILUS_FIELD_NUMBER:
			return "number";
		case NILUS_FIELD_OBJECT:
			return "object";
		default:
			return "string";
	}
}

/* The JSON Schema format of a kind, or NULL. */
static inline const char *
nilus_field_json_format(NilusFieldKind kind)
{
	return kind == NILUS_FIELD_UUID ? "uuid" : kind == NILUS_FIELD_TIMESTAMP ? "date-time" : NULL;
}

/*
 * A pipeline run's fields, in the order of the run object:
 * X(name, NilusFieldKind, required in a post, null when not known, description).
 * Each is a column of nilus.pipeline_run of the same name.  A posted run's
 * fields not listed here are kept in its metadata.
 */
#define NILUS_RUN_FIELDS(X) \
	X(run_id, NILUS_FIELD_UUID, true, false, "Id of the run, given by the runtime.") \
	X(resource_id, NILUS_FIELD_STRING, true, false, "DataOS resource id of the pipeline.") \
	X(pipeline_name, NILUS_FIELD_STRING, true, false, "Name of the pipeline.") \
	X(run_as_user, NILUS_FIELD_STRING, false, true, "User the pipeline ran as.") \
	X(started_at, NILUS_FIELD_TIMESTAMP, true, false, "When the run started.") \
	X(finished_at, NILUS_FIELD_TIMESTAMP, false, true, "When the run finished; null while running.") \
	X(is_success, NILUS_FIELD_BOOLEAN, false, true, "Whether the run succeeded; null while running.") \
	X(duration_sec, NILUS_FIELD_NUMBER, false, true, \
	  "Seconds, as the runtime reports them, else finished_at - started_at.") \
	X(error, NILUS_FIELD_STRING, false, true, "The run's error; null on success.") \
	X(records, NILUS_FIELD_OBJECT, false, true, \
	  "Per-stage record counts as the runtime reports them, stored as given.") \
	X(metadata, NILUS_FIELD_OBJECT, false, false, \
	  "Free object; a posted run's unknown fields are kept here.")

#endif							/* NILUS_API_H */
