/*
 * run_filter.c: which runs a listing's filter selects, as statements over
 * nilus.pipeline_run (one per combination of filters, filter_plan.c).
 */
#include "postgres.h"

#include "nilus_api.h"
#include "run_filter.h"
#include "spi.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

enum RunCondition
{
	RUN_RESOURCE, RUN_USER, RUN_OUTCOME, RUN_STARTED_FROM, RUN_STARTED_UNTIL
};

static const NilusFilterShape run_shape = {
	"nilus.pipeline_run",
	{
		[RUN_RESOURCE] = "resource_id =",
		[RUN_USER] = "run_as_user =",
		[RUN_OUTCOME] = "is_success =",
		[RUN_STARTED_FROM] = "started_at >=",
		[RUN_STARTED_UNTIL] = "started_at <",
	},
	{
		[RUN_RESOURCE] = TEXTOID,
		[RUN_USER] = TEXTOID,
		[RUN_OUTCOME] = BOOLOID,
		[RUN_STARTED_FROM] = TIMESTAMPTZOID,
		[RUN_STARTED_UNTIL] = TIMESTAMPTZOID,
	}
};

void
nilus_run_filter_args(const NilusRunFilter *filter, NilusFilterArgs *args)
{
	nilus_filter_args_init(args, CStringGetTextDatum(filter->tenant));
	if (filter->resource_id)
		nilus_filter_give(args, RUN_RESOURCE, CStringGetTextDatum(filter->resource_id));
	if (filter->run_as_user)
		nilus_filter_give(args, RUN_USER, CStringGetTextDatum(filter->run_as_user));
	if (filter->has_outcome)
		nilus_filter_give(args, RUN_OUTCOME, BoolGetDatum(filter->outcome));
	nilus_filter_give_range(args, RUN_STARTED_FROM, filter->range);
}

NilusPlan *
nilus_run_filter_plan(NilusPlan *plans, const NilusFilterArgs *args, const char *select,
					  const char *tail)
{
	return nilus_filter_plan(&run_shape, plans, args, select, tail);
}

const char *
nilus_run_columns(void)
{
	static const char *columns = NULL;

	if (columns == NULL)
	{
		StringInfoData list;

		initStringInfo(&list);
#define RUN_COLUMN(name, kind, required, nullable, description) \
		appendStringInfo(&list, "%s%s", list.len > 0 ? ", " : "", #name);
		NILUS_RUN_FIELDS(RUN_COLUMN)
#undef RUN_COLUMN
		columns = nilus_keep_string(list.data);
		pfree(list.data);
	}
	return columns;
}
