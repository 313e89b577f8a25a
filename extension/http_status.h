/*
 * http_status.h: what the supervisor of the database-native API publishes in
 * shared memory, and nilus.http_status() shows.
 */
#ifndef NILUS_HTTP_STATUS_H
#define NILUS_HTTP_STATUS_H

#include "postgres.h"

#include "utils/timestamp.h"

/* Asks for the shared memory; from _PG_init when preloading. */
extern void http_status_request_memory(void);

/*
 * The supervisor's news: pid 0 while no child runs, "" for an address that is
 * off, last_exit NULL to keep the one published before.
 */
extern void http_status_publish(pid_t pid, const char *listen, const char *metrics_listen,
								TimestampTz started_at, int64 restarts, const char *last_exit);

/* Restarts published so far (a restarted supervisor counts on). */
extern int64 http_status_restarts(void);

#endif
