/*
 * errors.c: the errors users see.  The parameter at fault travels in the
 * error's column field so that the shim can name it without parsing text.
 */
#include "postgres.h"

#include "errors.h"

#include "lib/stringinfo.h"
#include "utils/elog.h"

static pg_attribute_noreturn() void
raise_error(int sqlstate, const char *parameter, const char *message)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg_internal("%s", message),
			 parameter ? err_generic_string(PG_DIAG_COLUMN_NAME, parameter) : 0));
	pg_unreachable();
}

#define RAISE_FORMATTED(sqlstate, parameter, fmt) \
	do { \
		StringInfoData message; \
		initStringInfo(&message); \
		for (;;) \
		{ \
			va_list		args; \
			int			needed; \
			va_start(args, fmt); \
			needed = appendStringInfoVA(&message, fmt, args); \
			va_end(args); \
			if (needed == 0) \
				break; \
			enlargeStringInfo(&message, needed); \
		} \
		raise_error(sqlstate, parameter, message.data); \
	} while (0)

void
nilus_invalid(const char *parameter, const char *fmt,...)
{
	RAISE_FORMATTED(ERRCODE_INVALID_PARAMETER_VALUE, parameter, fmt);
}

void
nilus_not_found(const char *parameter, const char *fmt,...)
{
	RAISE_FORMATTED(ERRCODE_NO_DATA_FOUND, parameter, fmt);
}
