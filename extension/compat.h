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

/* The backend's slot, unique among the running backends: from 0 in 17, from 1 before. */
#if PG_VERSION_NUM >= 170000
#define NILUS_MY_BACKEND_SLOT (MyProcNumber)
#else
#define NILUS_MY_BACKEND_SLOT (MyBackendId)
#endif

/* pg_attribute_noreturn() gave way to pg_noreturn (placed first) in 18. */
#ifdef pg_noreturn
#define NILUS_NORETURN pg_noreturn
#else
#define NILUS_NORETURN pg_attribute_noreturn()
#endif

/* A library reserves its settings' prefix from 15 on; before, it warns of strays. */
#if PG_VERSION_NUM >= 150000
#define NILUS_MARK_GUC_PREFIX_RESERVED(prefix) MarkGUCPrefixReserved(prefix)
#else
#define NILUS_MARK_GUC_PREFIX_RESERVED(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* Shared memory is asked for in shmem_request_hook from 15 on, in _PG_init before. */
#if PG_VERSION_NUM >= 150000
#define NILUS_HAS_SHMEM_REQUEST_HOOK
#endif

#endif							/* NILUS_COMPAT_H */
