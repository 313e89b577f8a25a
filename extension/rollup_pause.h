/*
 * rollup_pause.h: the rollup trigger (rollup.c) standing aside for a
 * statement whose caller keeps the rollups itself (retention.c, which takes
 * removed runs out by hour and day instead of run by run).
 */
#ifndef NILUS_ROLLUP_PAUSE_H
#define NILUS_ROLLUP_PAUSE_H

#include "spi.h"

/* Runs a statement that writes (as nilus_execute) with the rollup trigger doing nothing. */
extern int	nilus_execute_without_rollup_trigger(NilusPlan *plan, Datum *values, const char *nulls);
/* Is a statement of nilus_execute_without_rollup_trigger running? */
extern bool nilus_rollup_trigger_paused(void);

#endif							/* NILUS_ROLLUP_PAUSE_H */
