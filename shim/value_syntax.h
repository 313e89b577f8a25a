/*
 * value_syntax.h: the types a query parameter can be declared with, and
 * the check of a value's syntax against its type.  Ranges and meaning are
 * the SQL functions' business, not the shim's.
 */
#ifndef NILUS_VALUE_SYNTAX_H
#define NILUS_VALUE_SYNTAX_H

#include <stdbool.h>

enum param_type
{
	PT_TEXT,
	PT_BOOLEAN,
	PT_INTEGER,
	PT_TIMESTAMPTZ,
	PT_DAY_OR_TIMESTAMP,		/* a UTC day YYYY-MM-DD or a timestamp; bound as text */
	PT_PERIOD,					/* <n>m, <n>h, <n>d or <n>w; bound as text */
	PT_BUCKET					/* 1h or 1d; bound as text */
};

/*
 * Checks a decoded value against its declared type.  Returns NULL when it
 * fits, else the reason ("must be true or false").  May rewrite the value in
 * place into the form bound to SQL, never longer: a timestamptz becomes its
 * instant in UTC (YYYY-MM-DDThh:mm:ss[.fraction]Z); in a day or timestamp,
 * a space before the UTC offset, as '+' arrives from form encoding, becomes
 * '+' again.
 */
const char *value_syntax_check(enum param_type type, char *value);

/*
 * Whether a bearer token looks like one at all (RFC 6750 b64token, at most
 * 512 characters); the database judges the rest.
 */
bool		bearer_token_syntax(const char *token);

#endif
