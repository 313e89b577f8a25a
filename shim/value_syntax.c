/*
 * value_syntax.c: the syntax of query values (booleans, integers, RFC 3339
 * timestamps and days, periods, buckets), so that a malformed value is a 400 naming
 * its parameter before any database call.
 */
#include "value_syntax.h"

#include "nilus_rfc3339.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nilus_api.h"

#define MAX_TOKEN 512			/* characters of a bearer token */

/*
 * Timestamps and days are read as the extension reads them
 * (include/nilus_rfc3339.h), and a timestamp must lie in the years 0001 to
 * 9999 in UTC as there (time_range.c), so that the shim refuses early exactly
 * what the extension would refuse, and passes nothing it would refuse with
 * another error.
 */
#define USECS_PER_DAY (86400LL * 1000000)

static const char not_rfc3339[] = "must be an RFC 3339 timestamp such as 2026-11-28T10:15:00Z";

/* Days from 1970-01-01 to a day of the proleptic Gregorian calendar. */
static long long
days_since_epoch(int year, int month, int day)
{
	long long	y = year - (month <= 2);
	long long	era = (y >= 0 ? y : y - 399) / 400;
	long long	year_of_era = y - era * 400;
	long long	day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;

	return era * 146097 + year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year - 719468;
}

/* The day days_since_epoch counted. */
static void
day_of_epoch_days(long long days, int *year, int *month, int *day)
{
	long long	z = days + 719468;
	long long	era = (z >= 0 ? z : z - 146096) / 146097;
	long long	day_of_era = z - era * 146097;
	long long	year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
	long long	day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	long long	shifted_month = (5 * day_of_year + 2) / 153;

	*day = (int) (day_of_year - (153 * shifted_month + 2) / 5 + 1);
	*month = (int) (shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
	*year = (int) (year_of_era + era * 400 + (*month <= 2));
}

/* Microseconds since 1970-01-01T00:00:00Z. */
static long long
utc_usecs(const NilusRfc3339 *t)
{
	long long	seconds = ((t->hour * 60LL + t->minute - t->offset_minutes) * 60) + t->second;

	return days_since_epoch(t->year, t->month, t->day) * USECS_PER_DAY + seconds * 1000000 + t->usec;
}

static bool
renderable(long long usecs)
{
	return usecs >= days_since_epoch(1, 1, 1) * USECS_PER_DAY &&
		usecs < days_since_epoch(10000, 1, 1) * USECS_PER_DAY;
}

/*
 * Writes the instant over value as YYYY-MM-DDThh:mm:ss[.fraction]Z, which
 * PostgreSQL's timestamptz input reads as the same instant (it would refuse
 * offsets beyond 15:59, and round long fractions its own way).  Never longer
 * than the RFC 3339 text it replaces: "Z" for the offset, at most as many
 * fraction digits.
 */
static void
write_utc(char *value, long long usecs)
{
	long long	days = usecs / USECS_PER_DAY - (usecs % USECS_PER_DAY < 0);
	long long	of_day = usecs - days * USECS_PER_DAY;
	int			seconds = (int) (of_day / 1000000);
	int			fraction = (int) (of_day % 1000000);
	int			year,
				month,
				day;
	char		utc[40];
	int			n;

	day_of_epoch_days(days, &year, &month, &day);
	n = snprintf(utc, sizeof(utc), "%04d-%02d-%02dT%02d:%02d:%02d", year, month, day,
				 seconds / 3600, seconds / 60 % 60, seconds % 60);
	if (fraction)
	{
		n += snprintf(utc + n, sizeof(utc) - n, ".%06d", fraction);
		while (utc[n - 1] == '0')
			n--;
	}
	utc[n++] = 'Z';
	utc[n] = '\0';
	memcpy(value, utc, (size_t) n + 1);
}

/*
 * NULL when value is a timestamp the extension takes, else the reason.  A
 * space, as a '+' arrives from form encoding, is put back to '+' first.
 */
static const char *
timestamp_refusal(char *value, long long *usecs)
{
	NilusRfc3339 t;
	char	   *space = strchr(value, ' ');

	if (space)
		*space = '+';
	if (!nilus_rfc3339_syntax(value, &t))
		return not_rfc3339;
	if (!nilus_rfc3339_fields_valid(&t))
		return "has a date or time field out of range";
	*usecs = utc_usecs(&t);
	return renderable(*usecs) ? NULL : "must lie in the years 0001 to 9999 (UTC)";
}

/* A timestamp bound as timestamptz: checked, then written as its instant in UTC. */
static const char *
timestamptz_check(char *value)
{
	long long	usecs;
	const char *refusal = timestamp_refusal(value, &usecs);

	if (!refusal)
		write_utc(value, usecs);
	return refusal;
}

/* A day or a timestamp, bound as text for the extension to read. */
static const char *
day_or_timestamp_check(char *value)
{
	long long	usecs;
	int			year,
				month,
				day;
	const char *refusal;

	if (nilus_day_syntax(value, &year, &month, &day))
		return nilus_day_valid(year, month, day)
			? NULL : "must be a date YYYY-MM-DD or a timestamp: there is no such day";
	refusal = timestamp_refusal(value, &usecs);
	return refusal == not_rfc3339
		? "must be a day YYYY-MM-DD or an RFC 3339 timestamp such as 2026-11-28T10:15:00Z" : refusal;
}

static bool
integer_syntax(const char *value, bool *in_range)
{
	const char *s = value + (value[0] == '-' || value[0] == '+');
	long long	v;

	*in_range = true;
	if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
		return false;
	errno = 0;
	v = strtoll(value, NULL, 10);
	*in_range = errno == 0 && v >= INT_MIN && v <= INT_MAX;
	return true;
}

static bool
period_syntax(const char *value)
{
	size_t		n = strspn(value, "0123456789");

	return n > 0 && n <= 9 && strchr("mhdw", value[n]) && value[n] != '\0' && value[n + 1] == '\0';
}

const char *
value_syntax_check(enum param_type type, char *value)
{
	bool		in_range;

	switch (type)
	{
		case PT_TEXT:
			return NULL;
		case PT_BOOLEAN:
			return strcasecmp(value, "true") == 0 || strcasecmp(value, "false") == 0
				? NULL : "must be true or false";
		case PT_INTEGER:
			if (!integer_syntax(value, &in_range))
				return "must be an integer";
			return in_range ? NULL : "is out of range for an integer";
		case PT_TIMESTAMPTZ:
			return timestamptz_check(value);
		case PT_DAY_OR_TIMESTAMP:
			return day_or_timestamp_check(value);
		case PT_PERIOD:
			return period_syntax(value) ? NULL : NILUS_PERIOD_RULE;
		case PT_BUCKET:
			return strcmp(value, "1h") == 0 || strcmp(value, "1d") == 0 ? NULL : "must be 1h or 1d";
	}
	return "has an unknown type";
}

bool
bearer_token_syntax(const char *token)
{
	size_t		len = strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
							 "0123456789-._~+/");

	len += strspn(token + len, "=");
	return len > 0 && len <= MAX_TOKEN && token[len] == '\0';
}
