/*
 * time_range.c: timestamps as microsecond ranges, cut at UTC hours and
 * days, and timestamps given as text.
 */
#include "postgres.h"

#include "errors.h"
#include "time_range.h"

#include "utils/builtins.h"
#include "utils/timestamp.h"

/* ts rounded down to a multiple of unit (an hour, a day) since the epoch: UTC. */
TimestampTz
nilus_floor(TimestampTz ts, int64 unit)
{
	TimestampTz rem = ts % unit;

	if (TIMESTAMP_NOT_FINITE(ts))
		return ts;
	return rem < 0 ? ts - rem - unit : ts - rem;
}

TimestampTz
nilus_ceil(TimestampTz ts, int64 unit)
{
	TimestampTz floor = nilus_floor(ts, unit);

	return (floor == ts || TIMESTAMP_NOT_FINITE(ts)) ? ts : floor + unit;
}

/*
 * Parses a timestamp given as text.  The input function's own error is
 * replaced by one that names the parameter.
 */
TimestampTz
nilus_parse_timestamptz(const char *value, const char *parameter)
{
	MemoryContext context = CurrentMemoryContext;
	TimestampTz result = 0;

	/* Not PostgreSQL's special words ("now", "tomorrow", "epoch"): a date first. */
	if ((strlen(value) < 10 || !isdigit((unsigned char) value[0]) || value[4] != '-') &&
		pg_strcasecmp(value + (value[0] == '-' || value[0] == '+'), "infinity") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("%s must be an RFC 3339 timestamp, not \"%s\"", parameter, value),
				 errhint("An RFC 3339 timestamp has a date, a time and a zone, e.g. 2026-11-28T10:15:00Z."),
				 nilus_errparameter(parameter)));
	PG_TRY();
	{
		result = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(value),
														 ObjectIdGetDatum(InvalidOid),
														 Int32GetDatum(-1)));
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(context);
		error = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(error->sqlerrcode),
				 errmsg("%s must be an RFC 3339 timestamp, not \"%s\"", parameter, value),
				 errdetail("%s", error->message),
				 errhint("An RFC 3339 timestamp has a date, a time and a zone, e.g. 2026-11-28T10:15:00Z."),
				 nilus_errparameter(parameter)));
	}
	PG_END_TRY();
	if (TIMESTAMP_NOT_FINITE(result))
		nilus_invalid(parameter, "%s must be a finite timestamp", parameter);
	return result;
}
