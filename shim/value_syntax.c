/*
 * value_syntax.c: the syntax of query values (booleans, integers, RFC 3339
 * timestamps and days, periods, buckets), so that a malformed value is a 400 naming
 * its parameter before any database call.
 */
#include "value_syntax.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TOKEN 512			/* characters of a bearer token */

/* Consumes exactly n digits; -1 when they are not there. */
static int
digits(const char **s, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++, (*s)++)
	{
		if (!isdigit((unsigned char) **s))
			return -1;
		v = v * 10 + (**s - '0');
	}
	return v;
}

static int
days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool		leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return days[month - 1] + (month == 2 && leap);
}

static bool
date_part(const char **s)
{
	int			y = digits(s, 4);
	int			m = (**s == '-') ? ((*s)++, digits(s, 2)) : -1;
	int			d = (**s == '-') ? ((*s)++, digits(s, 2)) : -1;

	return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

static bool
time_part(const char **s)
{
	int			h = digits(s, 2);
	int			mi = (**s == ':') ? ((*s)++, digits(s, 2)) : -1;
	int			sec;

	if (h < 0 || h > 23 || mi < 0 || mi > 59)
		return false;
	if (**s != ':')
		return true;
	(*s)++;
	sec = digits(s, 2);
	if (sec < 0 || sec > 60)
		return false;
	if (**s == '.')
	{
		(*s)++;
		if (!isdigit((unsigned char) **s))
			return false;
		while (isdigit((unsigned char) **s))
			(*s)++;
	}
	return true;
}

/* Z, or +HH[:MM] / -HH[:MM]; a space stands for '+' (form-decoded) and is put back. */
static bool
offset_part(char *s)
{
	const char *p = s + 1;
	int			h, m = 0;

	if (*s == '\0')
		return true;
	if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
		return true;
	if (*s != '+' && *s != '-' && *s != ' ')
		return false;
	h = digits(&p, 2);
	if (*p == ':')
		p++;
	if (*p != '\0')
		m = digits(&p, 2);
	if (h < 0 || h > 15 || m < 0 || m > 59 || *p != '\0')
		return false;
	if (*s == ' ')
		*s = '+';
	return true;
}

static bool
timestamp_syntax(char *value)
{
	const char *s = value;

	if (!date_part(&s))
		return false;
	if (*s == '\0')
		return true;
	if (*s != 'T' && *s != 't' && *s != ' ')
		return false;
	s++;
	if (!time_part(&s))
		return false;
	return offset_part(value + (s - value));
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
			return timestamp_syntax(value) ? NULL
				: "must be an RFC 3339 timestamp such as 2026-11-28T10:15:00Z";
		case PT_DAY_OR_TIMESTAMP:
			return timestamp_syntax(value) ? NULL
				: "must be a day YYYY-MM-DD or an RFC 3339 timestamp such as 2026-11-28T10:15:00Z";
		case PT_PERIOD:
			return period_syntax(value) ? NULL
				: "must be a number followed by m, h, d or w, such as 24h or 7d";
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
