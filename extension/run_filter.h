/*
 * run_filter.h: which runs a listing selects, and the statements that read
 * them.  Every statement takes $1 tenant, $2 resource_id, $3 run_as_user,
 * $4 is_success, $5 from, $6 until, ($7 limit, $8 offset).
 */
#ifndef NILUS_RUN_FILTER_H
#define NILUS_RUN_FILTER_H

#include "spi.h"
#include "time_range.h"

/* The columns of the run object every route returns runs as. */
#define NILUS_RUN_COLUMNS \
	"run_id, resource_id, pipeline_name, run_as_user, started_at, finished_at, is_success, " \
	"duration_sec, error, records, metadata"

typedef struct RunFilter
{
	char	   *tenant;
	char	   *resource_id;	/* NULL: any */
	char	   *run_as_user;	/* NULL: any */
	bool		has_outcome;
	bool		outcome;		/* is_success, when has_outcome */
	NilusRange	range;			/* of started_at */
} RunFilter;

#define RUN_FILTER_RESOURCE 1
#define RUN_FILTER_USER 2
#define RUN_FILTER_OUTCOME 4
#define RUN_FILTER_FROM 8
#define RUN_FILTER_UNTIL 16
#define NILUS_RUN_FILTER_BITS 5

extern int	nilus_run_filter_mask(const RunFilter *filter);
extern void nilus_run_filter_values(const RunFilter *filter, Datum *values, char *nulls);
extern NilusPlan *nilus_run_filter_plan(NilusPlan *plans, int mask, const char *select, const char *tail);

#endif							/* NILUS_RUN_FILTER_H */
