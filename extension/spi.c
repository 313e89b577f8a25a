/*
 * spi.c: statements planned once per backend and kept for its lifetime.
 */
#include "postgres.h"

#include "spi.h"

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

/* Where the statements' text lives, for the backend's lifetime. */
static MemoryContext plan_context = NULL;

char *
nilus_keep_string(const char *sql)
{
	if (plan_context == NULL)
		plan_context = AllocSetContextCreate(TopMemoryContext, "nilus plans",
											 ALLOCSET_SMALL_SIZES);
	return MemoryContextStrdup(plan_context, sql);
}

void
nilus_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "nilus: SPI_connect failed: %s", SPI_result_code_string(rc));
}

bool
nilus_citus_loaded(void)
{
	return GetConfigOption("citus.version", true, false) != NULL;
}

void
nilus_citus_allow_nested(void)
{
	if (nilus_citus_loaded())
		(void) set_config_option("citus.allow_nested_distributed_execution", "on", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

SPIPlanPtr
nilus_plan(NilusPlan *plan)
{
	if (plan->plan == NULL)
	{
		/*
		 * Citus cannot route a generic plan of some writes (a modifying CTE,
		 * ON CONFLICT): it needs the values to find the shard.
		 */
		bool		generic = plan->generic && !nilus_citus_loaded();
		SPIPlanPtr	prepared = SPI_prepare_cursor(plan->sql, plan->nargs, plan->argtypes,
												  generic ? CURSOR_OPT_GENERIC_PLAN : 0);

		if (prepared == NULL)
			elog(ERROR, "nilus: could not prepare \"%s\": %s",
				 plan->sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(prepared) != 0)
			elog(ERROR, "nilus: could not keep plan \"%s\"", plan->sql);
		plan->plan = prepared;
	}
	return plan->plan;
}

int
nilus_execute(NilusPlan *plan, Datum *values, const char *nulls, bool read_only, long count)
{
	int			rc = SPI_execute_plan(nilus_plan(plan), values, nulls, read_only, count);

	if (rc < 0)
		elog(ERROR, "nilus: \"%s\" failed: %s", plan->sql, SPI_result_code_string(rc));
	return rc;
}

int
nilus_execute_as_superuser_caller(NilusPlan *plan, Datum *values, const char *nulls)
{
	Oid			caller = GetOuterUserId();
	Oid			definer;
	int			context;
	int			rc;

	if (!nilus_citus_loaded() || !superuser_arg(caller))
		return nilus_execute(plan, values, nulls, false, 0);
	/* An error restores the definer with the (sub)transaction's abort. */
	GetUserIdAndSecContext(&definer, &context);
	SetUserIdAndSecContext(caller, context | SECURITY_LOCAL_USERID_CHANGE);
	rc = nilus_execute(plan, values, nulls, false, 0);
	SetUserIdAndSecContext(definer, context);
	return rc;
}

int
nilus_execute_while(NilusPlan *plan, Datum *values, const char *nulls, bool *during)
{
	int			rc;

	*during = true;
	PG_TRY();
	{
		rc = nilus_execute(plan, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		*during = false;
	}
	PG_END_TRY();
	return rc;
}
