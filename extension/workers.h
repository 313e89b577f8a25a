/*
 * workers.h: how nilus registers its background workers.
 */
#ifndef NILUS_WORKERS_H
#define NILUS_WORKERS_H

#include "postgres.h"

/*
 * Registers a worker of this library, named name (as ps and pg_stat_activity
 * show it), entered at function, with flags (BGWORKER_*), started again
 * restart_after seconds after a failure.  From _PG_init when preloading.
 * Every one writes, so it starts once recovery has finished: on a primary.
 */
extern void nilus_register_worker(const char *name, const char *function, int flags, int restart_after);

#endif
