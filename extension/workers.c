/*
 * workers.c: how nilus registers its background workers; see workers.h.
 */
#include "postgres.h"

#include "workers.h"

#include "postmaster/bgworker.h"

void
nilus_register_worker(const char *name, const char *function, int flags, int restart_after)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = flags;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = restart_after;
	strlcpy(worker.bgw_library_name, "nilus", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	strlcpy(worker.bgw_type, name, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}
