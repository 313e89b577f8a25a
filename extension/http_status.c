/*
 * http_status.c: the database-native API's status in shared memory (a small
 * struct behind a spinlock, written by the supervisor only) and
 * nilus.http_status(), which reads it.
 */
#include "http_status.h"

#include "compat.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"

#define ADDR_LEN 256
#define EXIT_LEN 64

typedef struct HttpStatus
{
	slock_t		mutex;
	pid_t		pid;
	char		listen[ADDR_LEN];
	char		metrics_listen[ADDR_LEN];
	TimestampTz started_at;		/* 0 before the first start */
	int64		restarts;
	char		last_exit[EXIT_LEN];	/* "" until a child ended */
} HttpStatus;

/* NULL unless the library was preloaded. */
static HttpStatus *shared = NULL;

#ifdef NILUS_HAS_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
request_memory(void)
{
#ifdef NILUS_HAS_SHMEM_REQUEST_HOOK
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(MAXALIGN(sizeof(HttpStatus)));
}

static void
attach_memory(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("nilus http status", sizeof(HttpStatus), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(HttpStatus));
		SpinLockInit(&shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
http_status_request_memory(void)
{
#ifdef NILUS_HAS_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = request_memory;
#else
	request_memory();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = attach_memory;
}

void
http_status_publish(pid_t pid, const char *listen, const char *metrics_listen, TimestampTz started_at,
					int64 restarts, const char *last_exit)
{
	SpinLockAcquire(&shared->mutex);
	shared->pid = pid;
	strlcpy(shared->listen, listen, ADDR_LEN);
	strlcpy(shared->metrics_listen, metrics_listen, ADDR_LEN);
	shared->started_at = started_at;
	shared->restarts = restarts;
	if (last_exit)
		strlcpy(shared->last_exit, last_exit, EXIT_LEN);
	SpinLockRelease(&shared->mutex);
}

int64
http_status_restarts(void)
{
	int64		restarts;

	SpinLockAcquire(&shared->mutex);
	restarts = shared->restarts;
	SpinLockRelease(&shared->mutex);
	return restarts;
}

static Datum
text_or_null(const char *value, bool *isnull)
{
	*isnull = value[0] == '\0';
	return *isnull ? (Datum) 0 : CStringGetTextDatum(value);
}

PG_FUNCTION_INFO_V1(nilus_http_status);

/* One row: the child the supervisor runs now, and how the last one ended. */
Datum
nilus_http_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	HttpStatus	now;
	Datum		values[7];
	bool		nulls[7] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!shared)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("nilus is not in shared_preload_libraries"),
				 errdetail("PostgreSQL runs the HTTP API only when it loads nilus at start."),
				 errhint("Add nilus to shared_preload_libraries and restart PostgreSQL.")));
	SpinLockAcquire(&shared->mutex);
	now = *shared;
	SpinLockRelease(&shared->mutex);

	values[0] = Int32GetDatum(now.pid);
	nulls[0] = now.pid == 0;
	values[1] = text_or_null(now.listen, &nulls[1]);
	values[2] = text_or_null(now.metrics_listen, &nulls[2]);
	values[3] = TimestampTzGetDatum(now.started_at);
	nulls[3] = now.started_at == 0;
	values[4] = Int64GetDatum(now.restarts);
	values[5] = text_or_null(now.last_exit, &nulls[5]);
	values[6] = BoolGetDatum(now.pid != 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
