/*
 * spi.h: statements prepared once per backend and kept.
 *
 * generic: always run the generic plan (planned once), for statements whose
 * best plan does not depend on the values (single-row writes by key); else
 * the plan cache chooses, and may plan again for each execution.
 */
#ifndef NILUS_SPI_H
#define NILUS_SPI_H

#include "executor/spi.h"

#define NILUS_PLAN_MAX_ARGS 32

typedef struct NilusPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[NILUS_PLAN_MAX_ARGS];
	bool		generic;
	SPIPlanPtr	plan;
} NilusPlan;

/* SPI_connect, checked. */
extern void nilus_spi_connect(void);
/* A copy of a statement's text made at run time, kept as long as its plan. */
extern char *nilus_keep_string(const char *sql);
/*
 * Is Citus loaded in this server (shared_preload_libraries)?  Its planner
 * then needs some statements planned with their values (no generic plan).
 */
extern bool nilus_citus_loaded(void);

/*
 * Lets Citus run a distributed query nested in a statement on a shard (which
 * it refuses by default), until the caller's AtEOXact_GUC of a level it took
 * with NewGUCNestLevel: for code that runs inside a shard's statement or a
 * delegated call and reads only rows at hand (a reference table's copy, the
 * tenant's colocated shards).
 */
extern void nilus_citus_allow_nested(void);
extern SPIPlanPtr nilus_plan(NilusPlan *plan);
extern int	nilus_execute(NilusPlan *plan, Datum *values, const char *nulls, bool read_only, long count);
/*
 * A writing statement (read_only false, no row limit) of a reference table,
 * run as the caller when the caller is a superuser on a Citus cluster (as
 * the function's owner elsewhere).  Citus writes a reference table's copies
 * over connections of the role that runs the statement, and refuses, in one
 * transaction, one role's access to placements another role modified: a
 * superuser who writes nilus.tenant_role and calls create_token in one
 * transaction would be refused (README, Scaling out).
 */
extern int	nilus_execute_as_superuser_caller(NilusPlan *plan, Datum *values, const char *nulls);
/*
 * A writing statement (read_only false, no row limit) with *during true
 * while it runs, false again however it ends: how a trigger is told that
 * this statement's caller answers for it (rollup_pause.c, append_only.c).
 */
extern int	nilus_execute_while(NilusPlan *plan, Datum *values, const char *nulls, bool *during);

#endif							/* NILUS_SPI_H */
