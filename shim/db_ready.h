/*
 * db_ready.h: the readiness check (/readiness), on a blocking connection of
 * its own so that it never waits behind the pool's calls.
 */
#ifndef NILUS_DB_READY_H
#define NILUS_DB_READY_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The database answers and has the extension at the shim's version; else
 * why not.  Only one thread (the metrics listener's) may call it.
 */
bool		db_ready(char *why, size_t size);

/* Closes the check's connection; after the metrics listener has stopped. */
void		db_ready_close(void);

#endif
