/*
 * time_range.h: timestamps as microsecond ranges, cut at UTC hours and days.
 */
#ifndef NILUS_TIME_RANGE_H
#define NILUS_TIME_RANGE_H

#include "datatype/timestamp.h"

/* [lo, hi); DT_NOBEGIN/DT_NOEND when open. */
typedef struct NilusRange
{
	TimestampTz lo;
	TimestampTz hi;
} NilusRange;

/* ts rounded down / up to a multiple of unit (an hour, a day), in UTC. */
extern TimestampTz nilus_floor(TimestampTz ts, int64 unit);
extern TimestampTz nilus_ceil(TimestampTz ts, int64 unit);

/*
 * A timestamp given as text, RFC 3339 only: 22007 naming parameter for any
 * other form, 22008 for a day or time that does not exist or an instant
 * outside the renderable years.
 */
extern TimestampTz nilus_parse_timestamptz(const char *value, const char *parameter);
/* In the years 0001 to 9999 (UTC), the ones RFC 3339 can write? */
extern bool nilus_renderable(TimestampTz value);
/* 22008 naming parameter unless value is renderable. */
extern void nilus_check_renderable(TimestampTz value, const char *parameter);

#endif							/* NILUS_TIME_RANGE_H */
