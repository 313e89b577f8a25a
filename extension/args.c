/*
 * args.c: reading and checking the SQL functions' arguments, by name
 * (see args.h).
 */
#include "postgres.h"

#include "args.h"
#include "errors.h"
#include "nilus_api.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

static bool
is_tenant_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/*
 * The argument names of the SQL functions called in this backend, read from
 * pg_proc on a function's first call and kept until pg_proc changes (a
 * CREATE OR REPLACE may rename or reorder them).
 */
typedef struct ArgumentNames
{
	Oid			function;
	int			count;
	char	  **names;			/* NULL when none is named */
} ArgumentNames;

#define KEPT_FUNCTIONS 64

static ArgumentNames kept[KEPT_FUNCTIONS];
static int	nkept = 0;
static MemoryContext names_context = NULL;

static void
forget_argument_names(Datum arg, int cacheid, uint32 hashvalue)
{
	nkept = 0;
	MemoryContextReset(names_context);
}

static ArgumentNames *
argument_names(Oid function)
{
	ArgumentNames *args;
	HeapTuple	proc;
	MemoryContext old;
	Oid		   *types;
	char	   *modes;

	for (int i = 0; i < nkept; i++)
		if (kept[i].function == function)
			return &kept[i];
	if (names_context == NULL)
	{
		names_context = AllocSetContextCreate(TopMemoryContext, "nilus argument names",
											  ALLOCSET_SMALL_SIZES);
		CacheRegisterSyscacheCallback(PROCOID, forget_argument_names, (Datum) 0);
	}
	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(function));
	if (!HeapTupleIsValid(proc))
		elog(ERROR, "nilus: cache lookup failed for function %u", function);
	if (nkept == KEPT_FUNCTIONS)
		forget_argument_names((Datum) 0, PROCOID, 0);
	args = &kept[nkept];
	old = MemoryContextSwitchTo(names_context);
	args->count = get_func_arg_info(proc, &types, &args->names, &modes);
	MemoryContextSwitchTo(old);
	ReleaseSysCache(proc);
	args->function = function;
	nkept++;
	return args;
}

int
nilus_argno(FunctionCallInfo fcinfo, const char *name)
{
	ArgumentNames *args = argument_names(fcinfo->flinfo->fn_oid);

	for (int i = 0; args->names != NULL && i < args->count; i++)
		if (strcmp(args->names[i], name) == 0)
			return i;
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("nilus: function %s has no argument \"%s\"",
					format_procedure(fcinfo->flinfo->fn_oid), name),
			 errdetail("Its C function reads an argument of that name."),
			 errhint("The SQL declaration of the function (sql/nilus--*.sql) and its C code "
					 "must name the same arguments.")));
	pg_unreachable();
}

bool
nilus_arg_given(FunctionCallInfo fcinfo, const char *name)
{
	return !PG_ARGISNULL(nilus_argno(fcinfo, name));
}

char *
nilus_arg_tenant(FunctionCallInfo fcinfo)
{
	char	   *tenant = nilus_arg_text(fcinfo, "tenant");
	size_t		len;

	if (tenant == NULL)
		nilus_invalid("tenant", "tenant is required");
	len = strlen(tenant);
	if (len == 0 || len > NILUS_TENANT_MAX_LENGTH)
		nilus_invalid("tenant", "tenant must be 1 to %d characters long", NILUS_TENANT_MAX_LENGTH);
	for (size_t i = 0; i < len; i++)
		if (!is_tenant_char(tenant[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tenant may contain only letters, digits, '_', '-' and '.'"),
					 errdetail("Character %zu of the tenant is not one of them.", i + 1),
					 nilus_errparameter("tenant")));
	return tenant;
}

void
nilus_check_name(const char *value, const char *parameter)
{
	size_t		len = strlen(value);

	if (len == 0 || len > NILUS_NAME_MAX_BYTES)
		nilus_invalid(parameter, "%s must be 1 to %d bytes long", parameter, NILUS_NAME_MAX_BYTES);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) value[i] < 0x20 || value[i] == 0x7f)
			nilus_invalid(parameter, "%s must not contain control characters", parameter);
}

char *
nilus_arg_name(FunctionCallInfo fcinfo, const char *name)
{
	char	   *value = nilus_arg_text(fcinfo, name);

	if (value == NULL)
		nilus_invalid(name, "%s is required", name);
	nilus_check_name(value, name);
	return value;
}

char *
nilus_arg_text(FunctionCallInfo fcinfo, const char *name)
{
	int			argno = nilus_argno(fcinfo, name);

	return PG_ARGISNULL(argno) ? NULL : TextDatumGetCString(PG_GETARG_DATUM(argno));
}

bool
nilus_arg_bool(FunctionCallInfo fcinfo, const char *name, bool *value)
{
	int			argno = nilus_argno(fcinfo, name);

	if (PG_ARGISNULL(argno))
		return false;
	*value = PG_GETARG_BOOL(argno);
	return true;
}

int32
nilus_arg_limit(FunctionCallInfo fcinfo)
{
	int			argno = nilus_argno(fcinfo, "limit");
	int32		limit;

	if (PG_ARGISNULL(argno))
		return NILUS_LIMIT_DEFAULT;
	limit = PG_GETARG_INT32(argno);
	if (limit < NILUS_LIMIT_MIN || limit > NILUS_LIMIT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limit must be an integer from %d to %d", NILUS_LIMIT_MIN, NILUS_LIMIT_MAX),
				 errdetail("limit was %d.", limit),
				 errhint("Read further pages with offset."),
				 nilus_errparameter("limit")));
	return limit;
}

int32
nilus_arg_offset(FunctionCallInfo fcinfo)
{
	int			argno = nilus_argno(fcinfo, "offset");
	int32		offset;

	if (PG_ARGISNULL(argno))
		return 0;
	offset = PG_GETARG_INT32(argno);
	if (offset < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("offset must be an integer >= 0"),
				 errdetail("offset was %d.", offset),
				 nilus_errparameter("offset")));
	return offset;
}

/*
 * A timestamp argument's value, in the years text timestamps may name
 * (time_range.c), infinities refused; false when not given.
 */
static bool
renderable_timestamp_arg(FunctionCallInfo fcinfo, const char *name, TimestampTz *value)
{
	int			argno = nilus_argno(fcinfo, name);

	if (PG_ARGISNULL(argno))
		return false;
	*value = PG_GETARG_TIMESTAMPTZ(argno);
	nilus_check_renderable(*value, name);
	return true;
}

void
nilus_range_narrow(NilusRange *range, FunctionCallInfo fcinfo, const char *gte, const char *lte)
{
	TimestampTz bound;

	if (renderable_timestamp_arg(fcinfo, gte, &bound))
		range->lo = Max(range->lo, bound);
	if (renderable_timestamp_arg(fcinfo, lte, &bound))
		range->hi = Min(range->hi, bound + 1);
}
