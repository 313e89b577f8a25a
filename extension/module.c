/*
 * module.c: the shared library's entry.  Settings (GUCs), hooks and
 * background workers are registered here, in _PG_init, when they come.
 */
#include "postgres.h"

#include "fmgr.h"

#include "distribute.h"
#include "settings.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	nilus_define_settings();
	nilus_distribute_init();
}
