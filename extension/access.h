/*
 * access.h: who may act on which tenant, by token or by role.
 */
#ifndef NILUS_ACCESS_H
#define NILUS_ACCESS_H

/* Rights a token may carry. */
typedef enum NilusRight
{
	NILUS_RIGHT_READ,
	NILUS_RIGHT_RUNTIME
} NilusRight;

/* May the caller act on this tenant (NULL: no tenant) with right? An error if not. */
extern void nilus_require_access(const char *tenant, NilusRight right);
/* Makes a checked token this transaction's identity (tenant NULL: every tenant). */
extern void nilus_set_token_identity(const char *tenant, int rights);

#endif							/* NILUS_ACCESS_H */
