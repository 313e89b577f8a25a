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

/* A timestamp given as text; an error naming parameter when it is not one. */
extern TimestampTz nilus_parse_timestamptz(const char *value, const char *parameter);

#endif							/* NILUS_TIME_RANGE_H */
