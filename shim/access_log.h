/*
 * access_log.h: one line per API request on stderr, buffered so that under
 * load one write carries many lines.  Only the loop's thread logs.
 */
#ifndef NILUS_ACCESS_LOG_H
#define NILUS_ACCESS_LOG_H

#include <stdbool.h>

/* path: the route's pattern, or the raw path of an unmatched request. */
void		access_log(const char *method, const char *path, int status, double seconds,
					   bool aborted);

/* Writes the buffered lines; the loop calls it once per turn. */
void		access_log_flush(void);

#endif
