/*
 * settings.c: the nilus.* settings (GUCs).  nilus.retention_interval is
 * defined whenever the library loads, so that SHOW answers in every session.
 * The prefix is not reserved here: in a backend that loads the library
 * lazily, that would turn other nilus.* lines of postgresql.conf (settings
 * only a preloaded library defines) into a warning each time.
 */
#include "postgres.h"

#include <limits.h>

#include "settings.h"

#include "utils/guc.h"

int			nilus_retention_interval = 3600;

void
nilus_define_settings(void)
{
	DefineCustomIntVariable("nilus.retention_interval",
							"How often the background worker applies the retention policies.",
							"0: never (CALL nilus.apply_retention() still works).",
							&nilus_retention_interval, 3600, 0, INT_MAX, PGC_SIGHUP,
							GUC_UNIT_S, NULL, NULL, NULL);
}
