/*
 * time_range.c: timestamps as microsecond ranges, cut at UTC hours and
 * days, timestamps given as text, and the years that can be rendered.
 */
#include "postgres.h"

#include "errors.h"
#include "nilus_rfc3339.h"
#include "time_range.h"

#include "utils/builtins.h"
#include "utils/datetime.h"
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
 * Timestamps given as text (the bodies' started_at and finished_at, the
 * listings' exact started_at) are RFC 3339 date-times and nothing else
 * (include/nilus_rfc3339.h, which nilus-manager checks query values with):
 *
 *     YYYY-MM-DD "T" hh:mm:ss [.fraction] ("Z" | +hh:mm | -hh:mm)
 *
 * ("T" and "Z" in either case).  PostgreSQL's own input function is not used:
 * it also reads "epoch", "now", "4714-11-24 BC", time-zone names and a dozen
 * other forms that a JSON client does not mean and that cannot be rendered
 * back as RFC 3339.  A space for the "T" (which RFC 3339 leaves to
 * applications) and a missing offset are refused: the instant must be
 * unambiguous.  Fractions of any length are rounded to the microsecond.
 *
 * The instant must lie in the years 0001 to 9999 in UTC, the years an RFC
 * 3339 timestamp can write, so that everything stored renders.
 */

/* 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z, in PostgreSQL's microseconds. */
#define FIRST_RENDERABLE ((TimestampTz) (1721426 - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)
#define END_RENDERABLE ((TimestampTz) (5373485 - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)

#define MAX_QUOTED_INPUT 64		/* longer inputs are not repeated in errors */

static const char *
quoted_input(const char *value)
{
	return strlen(value) <= MAX_QUOTED_INPUT ? psprintf(", not \"%s\"", value) : "";
}

bool
nilus_renderable(TimestampTz value)
{
	return value >= FIRST_RENDERABLE && value < END_RENDERABLE;
}

void
nilus_check_renderable(TimestampTz value, const char *parameter)
{
	if (!nilus_renderable(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s must lie in the years 0001 to 9999 (UTC)", parameter),
				 nilus_errparameter(parameter)));
}

TimestampTz
nilus_parse_timestamptz(const char *value, const char *parameter)
{
	NilusRfc3339 f;
	TimestampTz result;

	if (!nilus_rfc3339_syntax(value, &f))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("%s must be an RFC 3339 timestamp%s", parameter, quoted_input(value)),
				 errhint("An RFC 3339 timestamp is a date, \"T\", a time with seconds and an offset, "
						 "e.g. 2026-11-28T10:15:00Z or 2026-11-28T11:15:00.5+01:00."),
				 nilus_errparameter(parameter)));
	if (!nilus_rfc3339_fields_valid(&f))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s has a date or time field out of range%s", parameter, quoted_input(value)),
				 nilus_errparameter(parameter)));
	/* Four-digit years and day-sized offsets: far inside int64 microseconds. */
	result = (TimestampTz) (date2j(f.year, f.month, f.day) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY +
		((f.hour * MINS_PER_HOUR + f.minute - f.offset_minutes) * SECS_PER_MINUTE + f.second) * USECS_PER_SEC +
		f.usec;
	nilus_check_renderable(result, parameter);
	return result;
}
