/*
 * append_only.c: the tables whose records are never rewritten (CDC offsets,
 * CDC schema history, pipeline state versions) refuse UPDATE, DELETE and
 * TRUNCATE, whoever asks, the owner and superusers included.
 *
 * The only way past is retention: C code of this library that runs its
 * DELETE statement with nilus_execute_pruning().  The permission is a
 * variable of this backend, not a setting, so no SQL statement can grant it
 * to itself; it covers DELETE only (retention never rewrites a record) and
 * that one statement, however it ends.
 */
#include "postgres.h"

#include "append_only.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/rel.h"

static bool pruning = false;

int
nilus_execute_pruning(NilusPlan *plan, Datum *values, const char *nulls)
{
	return nilus_execute_while(plan, values, nulls, &pruning);
}

static const char *
event_name(TriggerEvent event)
{
	if (TRIGGER_FIRED_BY_UPDATE(event))
		return "UPDATE";
	if (TRIGGER_FIRED_BY_DELETE(event))
		return "DELETE";
	return "TRUNCATE";
}

PG_FUNCTION_INFO_V1(nilus_refuse_rewrite);

/* BEFORE UPDATE OR DELETE OR TRUNCATE ... FOR EACH STATEMENT */
Datum
nilus_refuse_rewrite(PG_FUNCTION_ARGS)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "nilus_refuse_rewrite: not called as a trigger");
	if (pruning && TRIGGER_FIRED_BY_DELETE(trigger->tg_event))
		return PointerGetDatum(NULL);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("nilus.%s is append-only: %s is refused",
					RelationGetRelationName(trigger->tg_relation), event_name(trigger->tg_event)),
			 errdetail("Its records are never rewritten or removed, except by retention (nilus.apply_retention)."),
			 errhint("Store a new record instead.")));
}
