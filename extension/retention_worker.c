/*
 * retention_worker.c: the background worker that applies the retention
 * policies every nilus.retention_interval seconds in nilus.http_database,
 * when the library is preloaded.
 *
 * A worker of its own beside the API's supervisor: the supervisor has no
 * database session and must answer its child at once, while this one works
 * in a database, a batch at a time.  It works as CALL nilus.apply_retention()
 * does and through the same functions: nilus.retention_work() names the
 * (tenant, kind) pairs, nilus.prune_batch() removes a batch and records it
 * in nilus.retention_progress, each batch its own transaction, and after a
 * batch it rests as long as the batch took (the procedure's default pace),
 * so that the API keeps its latency.
 *
 * After the policies, it folds the shards of every tenant's closed rollup
 * buckets of the last day into one row each (nilus.fold_rollup_shards), so
 * that reads of older buckets do not read a row per backend that wrote them.
 *
 * It applies retention when it starts and then every interval; 0 stops it
 * until a reload sets an interval again.  It connects at its first apply (a
 * server that never applies retention has no session of it) and a backend
 * stays in its database: when nilus.http_database changes, it exits and the
 * postmaster starts it again, after RESTART_WORKER_AFTER seconds, as after
 * a failure.  A database without the extension, or with a version without
 * retention, is logged once and checked again at every interval.
 *
 * On a Citus cluster the coordinator applies retention to every tenant, its
 * batches delegated to the tenants' workers (README, Scaling out); a worker
 * applying it too would prune the same tenants again.  So on a worker (its
 * pg_dist_local_group.groupid is not 0) the worker logs once that it leaves
 * retention to the coordinator, and checks again at every interval.
 */
#include "postgres.h"

#include "retention_worker.h"

#include "settings.h"
#include "spi.h"
#include "workers.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#define BATCH_SIZE 1000			/* nilus.apply_retention()'s default */
#define DEADLOCK_RETRIES 3		/* as nilus.apply_retention() */
#define RESTART_WORKER_AFTER 10	/* seconds, after a failure or a change of database */

typedef struct RetentionPair
{
	char	   *tenant;
	char	   *kind;
} RetentionPair;

/* What an apply has to do: the pairs, or why it does nothing here and what to do about it. */
typedef struct ApplyWork
{
	char	   *unusable;
	const char *hint;
	List	   *pairs;
} ApplyWork;

typedef struct Batch
{
	const RetentionPair *pair;
	TimestampTz apply_started;
	int64		removed;
} Batch;

/* Read without touching nilus's objects, which may not exist. */
static NilusPlan extension_state = {
	"SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'nilus'), "
	"       pg_catalog.to_regprocedure('nilus.prune_batch(text,text,integer,timestamptz)') IS NOT NULL, "
	"       pg_catalog.to_regclass('pg_catalog.pg_dist_local_group') IS NOT NULL",
	0, {InvalidOid}
};

/* Where Citus is installed: 0 on the coordinator, the worker's group elsewhere. */
static NilusPlan citus_group = {
	"SELECT groupid FROM pg_catalog.pg_dist_local_group", 0, {InvalidOid}
};

#define UNUSABLE_HINT "Run CREATE EXTENSION nilus or ALTER EXTENSION nilus UPDATE there, or set nilus.http_database; " \
	"the worker checks again every nilus.retention_interval."

static NilusPlan retention_work = {
	"SELECT tenant, kind FROM nilus.retention_work()", 0, {InvalidOid}
};

static NilusPlan prune_batch = {
	"SELECT nilus.prune_batch($1, $2, $3, $4)", 4, {TEXTOID, TEXTOID, INT4OID, TIMESTAMPTZOID}
};

static char *connected_database = NULL;	/* NULL until the first apply */
static char *unusable_logged = NULL;	/* what was last logged of an unusable database */
static MemoryContext apply_context;		/* one apply's work; reset by the next */

/* ---- signals and waits ---- */

static void
reload_if_asked(void)
{
	if (!ConfigReloadPending)
		return;
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	if (connected_database && strcmp(connected_database, nilus_http_database) != 0)
	{
		ereport(LOG, (errmsg("nilus retention: nilus.http_database is now \"%s\": the worker starts again there in %d s",
							 nilus_http_database, RESTART_WORKER_AFTER)));
		proc_exit(1);
	}
}

/* Until wake (forever: until a signal), a reload or SIGTERM; exits with the postmaster. */
static void
sleep_until(TimestampTz wake, bool forever)
{
	int			events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (forever ? 0 : WL_TIMEOUT);
	long		timeout = forever ? -1 : TimestampDifferenceMilliseconds(GetCurrentTimestamp(), wake);

	(void) WaitLatch(MyLatch, events, timeout, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	reload_if_asked();
}

/* ---- one transaction ---- */

typedef void (*TransactionStep) (void *arg);

/*
 * Runs step in a transaction of its own, as pg_stat_activity's activity.
 * An error rolls it back and is returned (in apply_context), not thrown: the
 * worker lives on to the next batch or interval.
 */
static ErrorData *
in_transaction(TransactionStep step, void *arg, const char *activity)
{
	MemoryContext caller = CurrentMemoryContext;
	ErrorData  *error = NULL;

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		nilus_spi_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, activity);
		step(arg);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(apply_context);
		error = CopyErrorData();
		AbortOutOfAnyTransaction();
		FlushErrorState();
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(caller);
	return error;
}

/* ---- the steps ---- */

static char *
apply_string(const char *value)
{
	return value ? MemoryContextStrdup(apply_context, value) : NULL;
}

static bool
state_flag(int column)
{
	bool		isnull;

	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column, &isnull));
}

/* The Citus group of this node, when Citus is installed here (else 0, as on a coordinator). */
static int32
citus_group_id(void)
{
	bool		isnull;

	nilus_execute(&citus_group, NULL, NULL, true, 1);
	if (SPI_processed == 0)
		return 0;
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static void
read_work(void *arg)
{
	ApplyWork  *work = arg;
	char	   *version;
	int32		group;

	nilus_execute(&extension_state, NULL, NULL, true, 1);
	version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	work->hint = UNUSABLE_HINT;
	if (version == NULL)
	{
		work->unusable = apply_string("extension nilus is not installed");
		return;
	}
	if (!state_flag(2))
	{
		work->unusable = apply_string(psprintf("extension nilus is at version %s, which has no retention",
											   version));
		return;
	}
	if (state_flag(3) && (group = citus_group_id()) != 0)
	{
		work->unusable = apply_string(psprintf("this server is a Citus worker (group %d)", group));
		work->hint = "The Citus coordinator applies retention to every worker's shards.";
		return;
	}
	nilus_execute(&retention_work, NULL, NULL, true, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		RetentionPair *pair = MemoryContextAlloc(apply_context, sizeof(RetentionPair));
		MemoryContext old;

		pair->tenant = apply_string(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		pair->kind = apply_string(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		old = MemoryContextSwitchTo(apply_context);
		work->pairs = lappend(work->pairs, pair);
		MemoryContextSwitchTo(old);
	}
}

/* Every tenant's closed rollup buckets back to one row each (nilus.fold_rollup_shards). */
static void
fold_rollup_shards(void *arg)
{
	static NilusPlan fold = {
		"SELECT coalesce(sum(nilus.fold_rollup_shards(t)), 0)::int8 FROM (SELECT DISTINCT nilus.data_tenants()) d(t)",
		0, {InvalidOid}
	};
	bool		isnull;

	nilus_execute(&fold, NULL, NULL, false, 1);
	*(int64 *) arg = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static void
prune_one_batch(void *arg)
{
	Batch	   *batch = arg;
	Datum		values[4];
	bool		isnull;

	values[0] = CStringGetTextDatum(batch->pair->tenant);
	values[1] = CStringGetTextDatum(batch->pair->kind);
	values[2] = Int32GetDatum(BATCH_SIZE);
	values[3] = TimestampTzGetDatum(batch->apply_started);
	nilus_execute(&prune_batch, values, NULL, false, 1);
	batch->removed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* ---- an apply ---- */

/* Logs why this database does not apply retention, once until the reason changes. */
static void
note_unusable(const char *why, const char *hint)
{
	if (why && unusable_logged && strcmp(why, unusable_logged) == 0)
		return;
	if (unusable_logged)
		pfree(unusable_logged);
	unusable_logged = why ? MemoryContextStrdup(TopMemoryContext, why) : NULL;
	if (why)
		ereport(LOG, (errmsg("nilus retention: %s in database \"%s\" (nilus.http_database), retention is not applied",
							 why, connected_database),
					  errhint("%s", hint)));
}

/* Whether to go on after a batch: it rests as long as the batch took, and the interval may have become 0. */
static bool
rest_after(TimestampTz batch_started)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz wake = now + (now - batch_started);

	while (GetCurrentTimestamp() < wake)
		sleep_until(wake, false);
	return nilus_retention_interval > 0;
}

/* Every batch of one (tenant, kind), as the procedure works through them; false: stop the apply. */
static bool
prune_pair(const RetentionPair *pair, TimestampTz apply_started)
{
	Batch		batch = {pair, apply_started, 0};
	char	   *activity = psprintf("nilus retention: tenant \"%s\", %s", pair->tenant, pair->kind);
	int64		total = 0;
	int			deadlocks = 0;

	for (;;)
	{
		TimestampTz batch_started = GetCurrentTimestamp();
		ErrorData  *error = in_transaction(prune_one_batch, &batch, activity);

		if (error && error->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED && ++deadlocks <= DEADLOCK_RETRIES)
			continue;
		if (error)
		{
			ereport(LOG, (errcode(error->sqlerrcode),
						  errmsg("nilus retention: tenant \"%s\", %s: stopped by an error, tried again in nilus.retention_interval: %s",
								 pair->tenant, pair->kind, error->message)));
			return false;
		}
		total += batch.removed;
		if (batch.removed < BATCH_SIZE)
			break;
		if (!rest_after(batch_started))
			return false;
	}
	if (total > 0)
		ereport(LOG, (errmsg("nilus retention: tenant \"%s\", %s: " INT64_FORMAT " rows removed",
							 pair->tenant, pair->kind, total)));
	return true;
}

static void
apply_retention(TimestampTz started)
{
	ApplyWork	work = {NULL, NULL, NIL};
	ErrorData  *error;
	ListCell   *cell;
	int64		folded = 0;

	MemoryContextReset(apply_context);
	if (connected_database == NULL)
	{
		connected_database = MemoryContextStrdup(TopMemoryContext, nilus_http_database);
		BackgroundWorkerInitializeConnection(connected_database, NULL, 0);
	}
	error = in_transaction(read_work, &work, "nilus retention: reading the policies");
	if (error)
	{
		ereport(LOG, (errcode(error->sqlerrcode),
					  errmsg("nilus retention: could not read the policies, tried again in nilus.retention_interval: %s",
							 error->message)));
		return;
	}
	note_unusable(work.unusable, work.hint);
	foreach(cell, work.pairs)
	{
		if (!prune_pair(lfirst(cell), started))
			return;
	}
	if (work.unusable)
		return;
	error = in_transaction(fold_rollup_shards, &folded, "nilus retention: folding rollup shards");
	if (error)
		ereport(LOG, (errcode(error->sqlerrcode),
					  errmsg("nilus retention: rollup shards not folded, tried again in nilus.retention_interval: %s",
							 error->message)));
	else if (folded > 0)
		ereport(LOG, (errmsg("nilus retention: folded the rollup shards of closed buckets: " INT64_FORMAT " rows fewer", folded)));
}

/* ---- the worker ---- */

void
retention_worker_register(void)
{
	nilus_register_worker("nilus retention", "nilus_retention_worker_main",
						  BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION, RESTART_WORKER_AFTER);
}

void
nilus_retention_worker_main(Datum arg)
{
	TimestampTz last_apply = 0;	/* none yet: due at once */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	apply_context = AllocSetContextCreate(TopMemoryContext, "nilus retention", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		TimestampTz due = TimestampTzPlusMilliseconds(last_apply, (int64) nilus_retention_interval * 1000);

		if (nilus_retention_interval > 0 && GetCurrentTimestamp() >= due)
		{
			last_apply = GetCurrentTimestamp();
			apply_retention(last_apply);
			continue;
		}
		sleep_until(due, nilus_retention_interval == 0);
	}
}
