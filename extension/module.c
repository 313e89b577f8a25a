/*
 * module.c: the shared library's entry.  Settings (GUCs), hooks and
 * background workers are registered here, in _PG_init, when they come.
 *
 * Preloaded, the library also defines the API's settings, asks for the API's
 * status in shared memory and registers the API's supervisor and the retention
 * worker.  Both are registered whenever the library is preloaded, also while
 * nilus.http_listen is empty or nilus.retention_interval 0 (they then idle),
 * so that a reload can start them later without restarting PostgreSQL.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "distribute.h"
#include "http_status.h"
#include "http_supervisor.h"
#include "retention_worker.h"
#include "settings.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	nilus_define_settings();
	nilus_distribute_init();
	if (!process_shared_preload_libraries_in_progress)
		return;
	nilus_define_preload_settings();
	http_status_request_memory();
	http_supervisor_register();
	retention_worker_register();
}
