/*
 * args.c: reading and checking the SQL functions' arguments.
 *
 * An optional argument passed as NULL means "not given", so that a caller can
 * bind every parameter of a route and leave the absent ones NULL.
 */
#include "postgres.h"

#include "args.h"
#include "errors.h"

#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/syscache.h"
#include "funcapi.h"

#define NILUS_MAX_TENANT_LEN 63
#define NILUS_MAX_NAME_LEN 255

static bool
is_tenant_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

char *
nilus_arg_tenant(FunctionCallInfo fcinfo, int argno)
{
	char	   *tenant;
	size_t		len;

	if (PG_ARGISNULL(argno))
		nilus_invalid("tenant", "tenant is required");
	tenant = TextDatumGetCString(PG_GETARG_DATUM(argno));
	len = strlen(tenant);
	if (len == 0 || len > NILUS_MAX_TENANT_LEN)
		nilus_invalid("tenant", "tenant must be 1 to %d characters long", NILUS_MAX_TENANT_LEN);
	for (size_t i = 0; i < len; i++)
		if (!is_tenant_char(tenant[i]))
			nilus_invalid("tenant", "tenant may contain only letters, digits, '_', '-' and '.'");
	return tenant;
}

void
nilus_check_name(const char *value, const char *parameter)
{
	size_t		len = strlen(value);

	if (len == 0 || len > NILUS_MAX_NAME_LEN)
		nilus_invalid(parameter, "%s must be 1 to %d bytes long", parameter, NILUS_MAX_NAME_LEN);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) value[i] < 0x20 || value[i] == 0x7f)
			nilus_invalid(parameter, "%s must not contain control characters", parameter);
}

char *
nilus_arg_name(FunctionCallInfo fcinfo, int argno, const char *parameter)
{
	char	   *value;

	if (PG_ARGISNULL(argno))
		nilus_invalid(parameter, "%s is required", parameter);
	value = TextDatumGetCString(PG_GETARG_DATUM(argno));
	nilus_check_name(value, parameter);
	return value;
}

char *
nilus_arg_text(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : TextDatumGetCString(PG_GETARG_DATUM(argno));
}

int32
nilus_arg_limit(FunctionCallInfo fcinfo, int argno)
{
	int32		limit;

	if (PG_ARGISNULL(argno))
		return NILUS_DEFAULT_LIMIT;
	limit = PG_GETARG_INT32(argno);
	if (limit < 1 || limit > NILUS_MAX_LIMIT)
		nilus_invalid("limit", "limit must be an integer from 1 to %d", NILUS_MAX_LIMIT);
	return limit;
}

int32
nilus_arg_offset(FunctionCallInfo fcinfo, int argno)
{
	int32		offset;

	if (PG_ARGISNULL(argno))
		return 0;
	offset = PG_GETARG_INT32(argno);
	if (offset < 0)
		nilus_invalid("offset", "offset must be an integer >= 0");
	return offset;
}

/* The declared name of argument argno, for errors about it. */
static char *
argument_name(FunctionCallInfo fcinfo, int argno)
{
	HeapTuple	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	Oid		   *types;
	char	  **names;
	char	   *modes;
	char	   *name = "timestamp";

	if (HeapTupleIsValid(proc))
	{
		if (get_func_arg_info(proc, &types, &names, &modes) > argno && names != NULL)
			name = names[argno];
		ReleaseSysCache(proc);
	}
	return name;
}

static TimestampTz
finite_timestamp_arg(FunctionCallInfo fcinfo, int argno)
{
	TimestampTz value = PG_GETARG_TIMESTAMPTZ(argno);

	if (TIMESTAMP_NOT_FINITE(value))
	{
		char	   *name = argument_name(fcinfo, argno);

		nilus_invalid(name, "%s must be a finite timestamp", name);
	}
	return value;
}

/* Narrows [lo, hi) by the inclusive bounds given as arguments gte and lte. */
void
nilus_range_narrow(NilusRange *range, FunctionCallInfo fcinfo, int gte_argno, int lte_argno)
{
	if (!PG_ARGISNULL(gte_argno))
		range->lo = Max(range->lo, finite_timestamp_arg(fcinfo, gte_argno));
	if (!PG_ARGISNULL(lte_argno))
		range->hi = Min(range->hi, finite_timestamp_arg(fcinfo, lte_argno) + 1);
}
