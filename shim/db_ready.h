/*
 * db_ready.h: the readiness check (/readiness), on a blocking connection of
 * its own so that it never waits behind the pool's calls.
 */
#ifndef NILUS_DB_READY_H
#define NILUS_DB_READY_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/*
 * The database answers and has the extension at the shim's version; else
 * why not.  Only one thread (the metrics listener's) may call it.
 */
bool		db_ready(char *why, size_t size);

/*
 * nilus.retention_metrics() on the check's connection, so that a scrape
 * never waits behind the pool's calls: rows (kind, rows removed in all, in
 * the last apply, epoch seconds of the last prune or NULL, the retention
 * worker's interval in seconds or NULL); NULL when the database cannot
 * answer.  The caller PQclear()s it.  The metrics listener's thread only,
 * as db_ready().
 */
PGresult   *db_ready_retention_metrics(void);

/* Closes the check's connection; after the metrics listener has stopped. */
void		db_ready_close(void);

#endif
