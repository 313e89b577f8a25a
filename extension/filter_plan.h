/*
 * filter_plan.h: statements over the records a listing's filter selects.
 *
 * Beside the tenant, a filter has up to NILUS_FILTER_CONDITIONS conditions,
 * each given or not.  Each combination of given conditions gets its own
 * statement, planned once, so that it is read off the index made for its
 * filter rather than through a generic plan of "col = $n OR $n IS NULL".
 * Every statement takes $1 tenant, $2 .. $6 the conditions' values (null
 * when not given, so that whatever prints parameters sees no garbage),
 * $7 limit and $8 offset.
 */
#ifndef NILUS_FILTER_PLAN_H
#define NILUS_FILTER_PLAN_H

#include "spi.h"
#include "time_range.h"

#define NILUS_FILTER_CONDITIONS 5
#define NILUS_FILTER_ARGS (NILUS_FILTER_CONDITIONS + 3)
#define NILUS_FILTER_LIMIT_ARG (NILUS_FILTER_CONDITIONS + 1)
#define NILUS_FILTER_OFFSET_ARG (NILUS_FILTER_CONDITIONS + 2)
/* The statements one select of one shape may need: one per combination. */
#define NILUS_FILTER_PLANS (1 << NILUS_FILTER_CONDITIONS)

/* What a listing filters: condition i compares a column with $(i + 2). */
typedef struct NilusFilterShape
{
	const char *table;
	const char *conditions[NILUS_FILTER_CONDITIONS];	/* "resource_id =", NULL: none */
	Oid			types[NILUS_FILTER_CONDITIONS];
} NilusFilterShape;

/* One call's parameters. */
typedef struct NilusFilterArgs
{
	Datum		values[NILUS_FILTER_ARGS];
	char		nulls[NILUS_FILTER_ARGS];
} NilusFilterArgs;

/* No condition given, limit and offset 0. */
extern void nilus_filter_args_init(NilusFilterArgs *args, Datum tenant);
extern void nilus_filter_give(NilusFilterArgs *args, int condition, Datum value);
/* Gives conditions from (>= lo) and from + 1 (< hi) for the range's closed ends. */
extern void nilus_filter_give_range(NilusFilterArgs *args, int from, NilusRange range);
extern void nilus_filter_page(NilusFilterArgs *args, int32 limit, int32 offset);

/*
 * The statement "<select> FROM <table> WHERE tenant = $1 <given conditions>
 * <tail>" for the conditions args gives, made on first use and kept in
 * plans (NILUS_FILTER_PLANS of them, for this shape and select).
 */
extern NilusPlan *nilus_filter_plan(const NilusFilterShape *shape, NilusPlan *plans,
									const NilusFilterArgs *args, const char *select,
									const char *tail);

#endif							/* NILUS_FILTER_PLAN_H */
