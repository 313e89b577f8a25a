/*
 * run_filter.c: which runs a listing's filter selects, as statements.
 *
 * Each combination of filters gets its own statement, planned once, so that
 * it is read off the index made for its filter rather than through a
 * generic plan of "col = $n OR $n IS NULL".
 */
#include "postgres.h"

#include "run_filter.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

static const char *
run_filter_sql(StringInfo sql, int mask)
{
	appendStringInfoString(sql, " FROM nilus.pipeline_run WHERE tenant = $1");
	if (mask & RUN_FILTER_RESOURCE)
		appendStringInfoString(sql, " AND resource_id = $2");
	if (mask & RUN_FILTER_USER)
		appendStringInfoString(sql, " AND run_as_user = $3");
	if (mask & RUN_FILTER_OUTCOME)
		appendStringInfoString(sql, " AND is_success = $4");
	if (mask & RUN_FILTER_FROM)
		appendStringInfoString(sql, " AND started_at >= $5");
	if (mask & RUN_FILTER_UNTIL)
		appendStringInfoString(sql, " AND started_at < $6");
	return sql->data;
}

/* A statement over the runs a filter combination selects, made on first use. */
NilusPlan *
nilus_run_filter_plan(NilusPlan *plans, int mask, const char *select, const char *tail)
{
	NilusPlan  *plan = &plans[mask];

	if (plan->sql == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		StringInfoData sql;
		static const Oid types[8] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID,
			TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, INT4OID};

		initStringInfo(&sql);
		appendStringInfoString(&sql, select);
		run_filter_sql(&sql, mask);
		appendStringInfoString(&sql, tail);
		plan->nargs = 8;
		memcpy(plan->argtypes, types, sizeof(types));
		plan->sql = sql.data;
		MemoryContextSwitchTo(old);
	}
	return plan;
}

int
nilus_run_filter_mask(const RunFilter *filter)
{
	return (filter->resource_id ? RUN_FILTER_RESOURCE : 0) |
		(filter->run_as_user ? RUN_FILTER_USER : 0) |
		(filter->has_outcome ? RUN_FILTER_OUTCOME : 0) |
		(filter->range.lo != DT_NOBEGIN ? RUN_FILTER_FROM : 0) |
		(filter->range.hi != DT_NOEND ? RUN_FILTER_UNTIL : 0);
}

void
nilus_run_filter_values(const RunFilter *filter, Datum *values, char *nulls)
{
	memset(nulls, ' ', 8);
	values[0] = CStringGetTextDatum(filter->tenant);
	values[1] = filter->resource_id ? CStringGetTextDatum(filter->resource_id) : (Datum) 0;
	values[2] = filter->run_as_user ? CStringGetTextDatum(filter->run_as_user) : (Datum) 0;
	values[3] = BoolGetDatum(filter->outcome);
	values[4] = TimestampTzGetDatum(filter->range.lo);
	values[5] = TimestampTzGetDatum(filter->range.hi);
	values[6] = Int32GetDatum(0);
	values[7] = Int32GetDatum(0);
}
