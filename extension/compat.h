/*
 * compat.h: what differs between the PostgreSQL versions nilus compiles
 * against (14 to 18), in one place.
 */
#ifndef NILUS_COMPAT_H
#define NILUS_COMPAT_H

#include "storage/proc.h"

/* The backend's local transaction id moved into MyProc->vxid in 17. */
#if PG_VERSION_NUM >= 170000
#define NILUS_MY_LXID (MyProc->vxid.lxid)
#else
#define NILUS_MY_LXID (MyProc->lxid)
#endif

/* pg_attribute_noreturn() gave way to pg_noreturn (placed first) in 18. */
#ifdef pg_noreturn
#define NILUS_NORETURN pg_noreturn
#else
#define NILUS_NORETURN pg_attribute_noreturn()
#endif

#endif							/* NILUS_COMPAT_H */
