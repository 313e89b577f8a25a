/*
 * run_filter.h: which runs a listing selects, and the statements that read
 * them (filter_plan.h: $1 tenant, $2 resource_id, $3 run_as_user,
 * $4 is_success, $5 from, $6 until, $7 limit, $8 offset).
 */
#ifndef NILUS_RUN_FILTER_H
#define NILUS_RUN_FILTER_H

#include "filter_plan.h"
#include "time_range.h"

typedef struct NilusRunFilter
{
	char	   *tenant;
	char	   *resource_id;	/* NULL: any */
	char	   *run_as_user;	/* NULL: any */
	bool		has_outcome;
	bool		outcome;		/* is_success, when has_outcome */
	NilusRange	range;			/* of started_at */
} NilusRunFilter;

/* The filter's parameters (limit and offset 0). */
extern void nilus_run_filter_args(const NilusRunFilter *filter, NilusFilterArgs *args);
/* "<select> FROM nilus.pipeline_run WHERE <the filter><tail>", see nilus_filter_plan. */
extern NilusPlan *nilus_run_filter_plan(NilusPlan *plans, const NilusFilterArgs *args,
										const char *select, const char *tail);
/* The columns of the run object, "run_id, resource_id, ...", as every route returns runs. */
extern const char *nilus_run_columns(void);

#endif							/* NILUS_RUN_FILTER_H */
