/*
 * period.c: the stats window, "period" (<n>m, <n>h, <n>d or <n>w, at most
 * NILUS_PERIOD_MAX_DAYS) ending now; the same for every function that takes
 * one.
 */
#include "postgres.h"

#include "errors.h"
#include "nilus_api.h"
#include "period.h"

#include "utils/timestamp.h"

int64
nilus_parse_period(const char *period)
{
	char	   *end;
	long		n;
	int64		unit;

	errno = 0;
	n = strtol(period, &end, 10);
	if (end == period || !isdigit((unsigned char) period[0]) || errno != 0 ||
		end[0] == '\0' || end[1] != '\0')
		n = -1;
	switch (end[0])
	{
		case 'm': unit = USECS_PER_MINUTE; break;
		case 'h': unit = USECS_PER_HOUR; break;
		case 'd': unit = USECS_PER_DAY; break;
		case 'w': unit = 7 * USECS_PER_DAY; break;
		default: unit = 0; break;
	}
	if (n < 1 || unit == 0 || n > NILUS_PERIOD_MAX_DAYS * USECS_PER_DAY / unit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period " NILUS_PERIOD_RULE),
				 errdetail("period was \"%s\".", period),
				 errhint("m is minutes, h hours, d days and w weeks: 90m, 24h, 30d, 2w."),
				 nilus_errparameter("period")));
	return n * unit;
}

NilusRange
nilus_period_window(const char *period, TimestampTz now)
{
	NilusRange	window;

	window.lo = now - nilus_parse_period(period ? period : NILUS_PERIOD_DEFAULT);
	window.hi = now + 1;
	return window;
}

void
nilus_write_period(NilusJson *js, const char *period, NilusRange window)
{
	nj_key(js, "period");
	nj_string(js, period ? period : NILUS_PERIOD_DEFAULT);
	nj_key(js, "period_start");
	nj_timestamptz(js, window.lo);
	nj_key(js, "period_end");
	nj_timestamptz(js, window.hi - 1);
}
