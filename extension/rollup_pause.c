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
	return nilus_execute_while(plan, values, nulls, &paused);
}

bool
nilus_rollup_trigger_paused(void)
{
	return paused;
}
