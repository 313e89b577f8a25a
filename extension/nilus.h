/*
 * nilus.h: what the extension's files share.
 *
 * Every SQL function returns its route's response body as json, built with
 * the writers of json_out.c; every user-facing error goes through
 * nilus_invalid() & co. so that it carries the SPEC's SQLSTATE and names the
 * parameter (in the error's column field, which the shim reads).
 */
#ifndef NILUS_H
#define NILUS_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#define NILUS_VERSION "0.1.0"

#define NILUS_DEFAULT_LIMIT 50
#define NILUS_MAX_LIMIT 1000

/* Rights a token may carry. */
typedef enum NilusRight
{
	NILUS_RIGHT_READ,
	NILUS_RIGHT_RUNTIME
} NilusRight;

/* access.c: may the caller act on this tenant (NULL: no tenant) with right? */
extern void nilus_require_access(const char *tenant, NilusRight right);
/* Makes a checked token this transaction's identity (tenant NULL: every tenant). */
extern void nilus_set_token_identity(const char *tenant, int rights);

/* errors.c */
extern void nilus_invalid(const char *parameter, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();
extern void nilus_not_found(const char *parameter, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

/* args.c: reading and checking arguments.  NULL optional arguments are "not given". */
extern char *nilus_arg_tenant(FunctionCallInfo fcinfo, int argno);
extern char *nilus_arg_name(FunctionCallInfo fcinfo, int argno, const char *parameter);
extern char *nilus_arg_text(FunctionCallInfo fcinfo, int argno);	/* NULL if not given */
extern int32 nilus_arg_limit(FunctionCallInfo fcinfo, int argno);
extern int32 nilus_arg_offset(FunctionCallInfo fcinfo, int argno);
extern void nilus_check_name(const char *value, const char *parameter);

/* Timestamps as microsecond ranges [lo, hi); DT_NOBEGIN/DT_NOEND when open. */
typedef struct NilusRange
{
	TimestampTz lo;
	TimestampTz hi;
} NilusRange;
extern void nilus_range_narrow(NilusRange *range, FunctionCallInfo fcinfo,
							   int gte_argno, int lte_argno);
extern TimestampTz nilus_parse_timestamptz(const char *value, const char *parameter);

/* The columns of the run object every route returns runs as. */
#define NILUS_RUN_COLUMNS \
	"run_id, resource_id, pipeline_name, run_as_user, started_at, finished_at, is_success, " \
	"duration_sec, error, records, metadata"

/* rollup.c: ts rounded down / up to a multiple of unit (an hour, a day), in UTC. */
extern TimestampTz nilus_floor(TimestampTz ts, int64 unit);
extern TimestampTz nilus_ceil(TimestampTz ts, int64 unit);

/*
 * body.c: reading request bodies, jsonb objects (nested ones too).  `where`
 * names the object in errors ("body", "offsets[2]"); a field's error names
 * "<where>.<key>" (or just the key for the top-level body) as the parameter.
 */
extern JsonbContainer *nilus_arg_body(FunctionCallInfo fcinfo, int argno);
/* known: NULL-terminated allowed keys, or NULL to allow any; required: NULL-terminated. */
extern void nilus_object_check(JsonbContainer *obj, const char *where,
							   const char *const *known, const char *const *required);
/* The field's value, or NULL when absent or JSON null. */
extern JsonbValue *nilus_object_get(JsonbContainer *obj, const char *key, JsonbValue *out);
extern char *nilus_object_string(JsonbContainer *obj, const char *key, const char *where);
extern bool nilus_object_bool(JsonbContainer *obj, const char *key, const char *where, bool *out);
extern JsonbContainer *nilus_object_array(JsonbContainer *obj, const char *key, const char *where);
extern bool nilus_object_uuid(JsonbContainer *obj, const char *key, const char *where, pg_uuid_t *out);
/* Element i of an array, which must be an object. */
extern JsonbContainer *nilus_array_object(JsonbContainer *array, int i, const char *where);
extern char *nilus_field_name(const char *where, const char *key);

/* json_out.c: writing response bodies. */
typedef struct NilusJson
{
	StringInfoData buf;
	bool		need_comma;		/* a value was written at this nesting level */
} NilusJson;
extern void nj_init(NilusJson *js);
extern void nj_begin_object(NilusJson *js);
extern void nj_end_object(NilusJson *js);
extern void nj_begin_array(NilusJson *js);
extern void nj_end_array(NilusJson *js);
extern void nj_key(NilusJson *js, const char *key);
extern void nj_string(NilusJson *js, const char *value);	/* NULL writes null */
extern void nj_text_datum(NilusJson *js, Datum value, bool isnull);
extern void nj_int64(NilusJson *js, int64 value);
extern void nj_float8(NilusJson *js, double value);
extern void nj_numeric_datum(NilusJson *js, Datum value, bool isnull);
extern void nj_bool(NilusJson *js, bool value);
extern void nj_null(NilusJson *js);
extern void nj_timestamptz(NilusJson *js, TimestampTz value);
extern void nj_jsonb_datum(NilusJson *js, Datum value, bool isnull);
extern void nj_uuid_datum(NilusJson *js, Datum value, bool isnull);
/* Writes column `attname` of an SPI row under its own name, by its type. */
extern void nj_column(NilusJson *js, HeapTuple tuple, TupleDesc desc, const char *attname);
/* Writes an SPI row as an object, every column under its name. */
extern void nj_row(NilusJson *js, HeapTuple tuple, TupleDesc desc);
extern Datum nj_result(NilusJson *js);	/* the json datum to return */

/*
 * spi.c: plans prepared once per backend and kept.  generic: always run the
 * generic plan (planned once), for statements whose best plan does not
 * depend on the values (single-row writes by key); else the plan cache
 * chooses, and may plan again for each execution.
 */
typedef struct NilusPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[16];
	bool		generic;
	SPIPlanPtr	plan;
} NilusPlan;
extern SPIPlanPtr nilus_plan(NilusPlan *plan);
extern int	nilus_execute(NilusPlan *plan, Datum *values, const char *nulls, bool read_only, long count);


/* listings.c and stats.c: which runs a listing selects. */
typedef struct RunFilter
{
	char	   *tenant;
	char	   *resource_id;	/* NULL: any */
	char	   *run_as_user;	/* NULL: any */
	bool		has_outcome;
	bool		outcome;		/* is_success, when has_outcome */
	NilusRange	range;			/* of started_at */
} RunFilter;

#define RUN_FILTER_RESOURCE 1
#define RUN_FILTER_USER 2
#define RUN_FILTER_OUTCOME 4
#define RUN_FILTER_FROM 8
#define RUN_FILTER_UNTIL 16
#define NILUS_RUN_FILTER_BITS 5

extern int	nilus_run_filter_mask(const RunFilter *filter);
/* $1..$8: tenant, resource_id, run_as_user, is_success, from, until, (limit, offset) */
extern void nilus_run_filter_values(const RunFilter *filter, Datum *values, char *nulls);
extern NilusPlan *nilus_run_filter_plan(NilusPlan *plans, int mask, const char *select, const char *tail);
extern int64 nilus_count_runs(const RunFilter *filter);

#endif
