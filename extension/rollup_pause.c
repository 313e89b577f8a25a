/*
 * rollup_pause.c: the rollup trigger standing aside for one statement whose
 * caller keeps the rollups itself.  Backend-local, and reset however the
 * statement ends.
 */
#include "postgres.h"

#include "rollup_pause.h"
#include "spi.h"

static bool paused = false;

int
nilus_execute_without_rollup_trigger(NilusPlan *plan, Datum *values, const char *nulls)
{
	int			rc;

	paused = true;
	PG_TRY();
	{
		rc = nilus_execute(plan, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		paused = false;
	}
	PG_END_TRY();
	return rc;
}

bool
nilus_rollup_trigger_paused(void)
{
	return paused;
}
