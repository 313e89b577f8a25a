/*
 * nilus_rfc3339.h: how both halves of nilus read a timestamp or a day given
 * as text, so that nilus-manager refuses early exactly what the extension
 * would refuse (extension/time_range.c, listings.c; shim/value_syntax.c).
 * Plain C11, no PostgreSQL headers.
 *
 * A timestamp is an RFC 3339 date-time and nothing else:
 *
 *     YYYY-MM-DD "T" hh:mm:ss [.fraction] ("Z" | +hh:mm | -hh:mm)
 *
 * ("T" and "Z" in either case), offsets up to 23:59, second 60 for a leap
 * second, fractions of any length rounded half up to the microsecond.  Which
 * instants may be stored (the years 0001 to 9999 in UTC) is the reader's
 * business.  A day is YYYY-MM-DD in digits exactly.
 */
#ifndef NILUS_RFC3339_H
#define NILUS_RFC3339_H

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

typedef struct NilusRfc3339
{
	int			year,
				month,
				day,
				hour,
				minute,
				second;
	int			usec;			/* the fraction, rounded */
	int			offset_minutes; /* east of UTC */
} NilusRfc3339;

/* Exactly n digits at *s, advancing past them; -1 when they are not there. */
static inline int
nilus_rfc3339_digits(const char **s, int n)
{
	int			value = 0;

	for (int i = 0; i < n; i++, (*s)++)
	{
		if (!isdigit((unsigned char) **s))
			return -1;
		value = value * 10 + (**s - '0');
	}
	return value;
}

/* The character c, in either case, advancing past it. */
static inline bool
nilus_rfc3339_char(const char **s, char c)
{
	if (tolower((unsigned char) **s) != tolower((unsigned char) c))
		return false;
	(*s)++;
	return true;
}

/* None, or one or more digits after the '.', rounded half up to microseconds. */
static inline bool
nilus_rfc3339_fraction(const char **s, int *usec)
{
	int			digits = 0;

	*usec = 0;
	if (**s != '.')
		return true;
	(*s)++;
	for (; isdigit((unsigned char) **s); (*s)++, digits++)
	{
		if (digits < 6)
			*usec = *usec * 10 + (**s - '0');
		else if (digits == 6 && **s >= '5')
			(*usec)++;
	}
	for (int i = digits; i < 6; i++)
		*usec *= 10;
	return digits > 0;
}

static inline bool
nilus_rfc3339_offset(const char **s, int *offset_minutes)
{
	int			sign = **s == '-' ? -1 : 1;
	int			hours,
				minutes;

	if (nilus_rfc3339_char(s, 'Z'))
	{
		*offset_minutes = 0;
		return true;
	}
	if (**s != '+' && **s != '-')
		return false;
	(*s)++;
	if ((hours = nilus_rfc3339_digits(s, 2)) < 0 || !nilus_rfc3339_char(s, ':') ||
		(minutes = nilus_rfc3339_digits(s, 2)) < 0)
		return false;
	*offset_minutes = sign * (hours * 60 + minutes);
	return hours <= 23 && minutes <= 59;
}

/* The syntax alone; the fields' ranges are nilus_rfc3339_fields_valid's. */
static inline bool
nilus_rfc3339_syntax(const char *s, NilusRfc3339 *t)
{
	return (t->year = nilus_rfc3339_digits(&s, 4)) >= 0 && nilus_rfc3339_char(&s, '-') &&
		(t->month = nilus_rfc3339_digits(&s, 2)) >= 0 && nilus_rfc3339_char(&s, '-') &&
		(t->day = nilus_rfc3339_digits(&s, 2)) >= 0 && nilus_rfc3339_char(&s, 'T') &&
		(t->hour = nilus_rfc3339_digits(&s, 2)) >= 0 && nilus_rfc3339_char(&s, ':') &&
		(t->minute = nilus_rfc3339_digits(&s, 2)) >= 0 && nilus_rfc3339_char(&s, ':') &&
		(t->second = nilus_rfc3339_digits(&s, 2)) >= 0 &&
		nilus_rfc3339_fraction(&s, &t->usec) && nilus_rfc3339_offset(&s, &t->offset_minutes) &&
		*s == '\0';
}

/* Days of the month in the proleptic Gregorian calendar (year 0 is a leap year). */
static inline int
nilus_days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool		leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return days[month - 1] + (month == 2 && leap);
}

static inline bool
nilus_day_valid(int year, int month, int day)
{
	return month >= 1 && month <= 12 && day >= 1 && day <= nilus_days_in_month(year, month);
}

/* RFC 3339's ranges: a day of that month, second 60 for a leap second. */
static inline bool
nilus_rfc3339_fields_valid(const NilusRfc3339 *t)
{
	return nilus_day_valid(t->year, t->month, t->day) && t->hour <= 23 && t->minute <= 59 &&
		t->second <= 60;
}

/* YYYY-MM-DD, digits exactly: a day rather than a timestamp (its range unchecked). */
static inline bool
nilus_day_syntax(const char *s, int *year, int *month, int *day)
{
	return strlen(s) == 10 && (*year = nilus_rfc3339_digits(&s, 4)) >= 0 && *s++ == '-' &&
		(*month = nilus_rfc3339_digits(&s, 2)) >= 0 && *s++ == '-' &&
		(*day = nilus_rfc3339_digits(&s, 2)) >= 0;
}

#endif							/* NILUS_RFC3339_H */
