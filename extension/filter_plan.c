/*
 * filter_plan.c: statements over the records a listing's filter selects,
 * one per combination of given conditions (see filter_plan.h).
 */
#include "postgres.h"

#include "filter_plan.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/timestamp.h"

void
nilus_filter_args_init(NilusFilterArgs *args, Datum tenant)
{
	memset(args->values, 0, sizeof(args->values));
	memset(args->nulls, 'n', sizeof(args->nulls));
	args->values[0] = tenant;
	args->nulls[0] = ' ';
	nilus_filter_page(args, 0, 0);
}

void
nilus_filter_give(NilusFilterArgs *args, int condition, Datum value)
{
	Assert(condition >= 0 && condition < NILUS_FILTER_CONDITIONS);
	args->values[condition + 1] = value;
	args->nulls[condition + 1] = ' ';
}

void
nilus_filter_give_range(NilusFilterArgs *args, int from, NilusRange range)
{
	if (range.lo != DT_NOBEGIN)
		nilus_filter_give(args, from, TimestampTzGetDatum(range.lo));
	if (range.hi != DT_NOEND)
		nilus_filter_give(args, from + 1, TimestampTzGetDatum(range.hi));
}

void
nilus_filter_page(NilusFilterArgs *args, int32 limit, int32 offset)
{
	args->values[NILUS_FILTER_LIMIT_ARG] = Int32GetDatum(limit);
	args->nulls[NILUS_FILTER_LIMIT_ARG] = ' ';
	args->values[NILUS_FILTER_OFFSET_ARG] = Int32GetDatum(offset);
	args->nulls[NILUS_FILTER_OFFSET_ARG] = ' ';
}

NilusPlan *
nilus_filter_plan(const NilusFilterShape *shape, NilusPlan *plans, const NilusFilterArgs *args,
				  const char *select, const char *tail)
{
	int			mask = 0;
	NilusPlan  *plan;
	StringInfoData sql;

	for (int i = 0; i < NILUS_FILTER_CONDITIONS; i++)
		if (args->nulls[i + 1] != 'n')
			mask |= 1 << i;
	plan = &plans[mask];
	if (plan->sql != NULL)
		return plan;

	initStringInfo(&sql);
	appendStringInfo(&sql, "%s FROM %s WHERE tenant = $1", select, shape->table);
	plan->argtypes[0] = TEXTOID;
	for (int i = 0; i < NILUS_FILTER_CONDITIONS; i++)
	{
		Assert(shape->conditions[i] != NULL || (mask & (1 << i)) == 0);
		if (mask & (1 << i))
			appendStringInfo(&sql, " AND %s $%d", shape->conditions[i], i + 2);
		/* An unused parameter still needs a type: any will do. */
		plan->argtypes[i + 1] = shape->conditions[i] ? shape->types[i] : TEXTOID;
	}
	appendStringInfoString(&sql, tail);
	plan->argtypes[NILUS_FILTER_LIMIT_ARG] = INT4OID;
	plan->argtypes[NILUS_FILTER_OFFSET_ARG] = INT4OID;
	plan->nargs = NILUS_FILTER_ARGS;
	plan->sql = nilus_keep_string(sql.data);
	pfree(sql.data);
	return plan;
}
