/*
 * period.h: the stats window, "period" (<n>m, <n>h, <n>d or <n>w) ending now.
 */
#ifndef NILUS_PERIOD_H
#define NILUS_PERIOD_H

#include "json_out.h"
#include "time_range.h"

/* The period's length in microseconds; an error naming "period" when it is not one. */
extern int64 nilus_parse_period(const char *period);

/*
 * [now - period, now], both ends in (so hi is now + 1); period NULL is
 * NILUS_PERIOD_DEFAULT.
 */
extern NilusRange nilus_period_window(const char *period, TimestampTz now);

/* Writes "period" (NULL: the default), "period_start" and "period_end" of a window. */
extern void nilus_write_period(NilusJson *js, const char *period, NilusRange window);

#endif							/* NILUS_PERIOD_H */
