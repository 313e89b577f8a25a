/*
 * access.h: who may act on which tenant, by token or by role.  The right
 * each SQL function of the API needs is in nilus_api.h (NILUS_RIGHT_OF).
 */
#ifndef NILUS_ACCESS_H
#define NILUS_ACCESS_H

#include "fmgr.h"

#include "nilus_api.h"

/* May the caller act on this tenant (NULL: no tenant) with right? An error if not. */
extern void nilus_require_access(const char *tenant, NilusRight right);
/* The "tenant" argument, once the caller may act on it with right. */
extern char *nilus_arg_tenant_for(FunctionCallInfo fcinfo, NilusRight right);
/* Has this transaction authenticated a token? */
extern bool nilus_token_active(void);
/* Makes a checked token this transaction's identity (tenant NULL: every tenant). */
extern void nilus_set_token_identity(const char *tenant, int rights);

#endif							/* NILUS_ACCESS_H */
