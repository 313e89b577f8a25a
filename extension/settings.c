/*
 * settings.c: the nilus.* settings (GUCs).  Defined whenever the library
 * loads, so that SHOW and the README's values hold in every session, not
 * only where the library is preloaded.
 */
#include "postgres.h"

#include "compat.h"
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
	NILUS_RESERVE_GUC_PREFIX("nilus");
}
