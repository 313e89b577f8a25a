/*
 * retention_worker.h: the background worker that applies the retention
 * policies every nilus.retention_interval; see retention_worker.c.
 */
#ifndef NILUS_RETENTION_WORKER_H
#define NILUS_RETENTION_WORKER_H

#include "postgres.h"

/* Registers the worker; from _PG_init when preloading. */
extern void retention_worker_register(void);

/* The worker's entry point, named in its registration. */
extern PGDLLEXPORT void nilus_retention_worker_main(Datum arg);

#endif
