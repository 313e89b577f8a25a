/*
 * http_supervisor.h: the background worker that runs the database-native API
 * (nilus-manager) as its child process; see http_supervisor.c.
 */
#ifndef NILUS_HTTP_SUPERVISOR_H
#define NILUS_HTTP_SUPERVISOR_H

#include "postgres.h"

/* Registers the worker; from _PG_init when preloading. */
extern void http_supervisor_register(void);

/* The worker's entry point, named in its registration. */
extern PGDLLEXPORT void nilus_http_supervisor_main(Datum arg);

#endif
