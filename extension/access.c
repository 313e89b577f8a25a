/*
 * access.c: who may act on which tenant.
 *
 * A transaction acts either for the API token it authenticated (tokens.c
 * sets the identity; it lasts until the transaction ends) or, without one,
 * for its role: a superuser acts for every tenant, other roles for the
 * tenants nilus.tenant_role grants them (directly or through a role they
 * are a member of; '*' = every tenant).  The same answer drives the
 * functions' checks and the row-level security policies.
 *
 * The role is the caller's: the route functions are SECURITY DEFINER and run
 * as nilus_owner, so the current user inside them is always the owner.  The
 * caller is the outer user (the session's role after SET ROLE), which a
 * SECURITY DEFINER call does not change.
 */
#include "postgres.h"

#include "errors.h"
#include "access.h"
#include "args.h"
#include "compat.h"
#include "spi.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#define ALL_TENANTS "*"

typedef struct TokenIdentity
{
	LocalTransactionId lxid;	/* the transaction it was authenticated in */
	char	   *tenant;			/* NULL: every tenant */
	int			rights;			/* bit per NilusRight */
} TokenIdentity;

static TokenIdentity token_identity = {InvalidLocalTransactionId, NULL, 0};

/* The tenants a role was granted, cached for one transaction. */
typedef struct RoleTenants
{
	LocalTransactionId lxid;
	Oid			role;
	List	   *tenants;		/* of char *, in access_context */
	bool		all;
} RoleTenants;

static RoleTenants role_tenants = {InvalidLocalTransactionId, InvalidOid, NIL, false};

/* Where the identity and the cached tenants live between calls. */
static MemoryContext
access_context(void)
{
	static MemoryContext context = NULL;

	if (context == NULL)
		context = AllocSetContextCreate(TopMemoryContext, "nilus access", ALLOCSET_SMALL_SIZES);
	return context;
}

static bool
token_active(void)
{
	return token_identity.lxid == NILUS_MY_LXID && token_identity.lxid != InvalidLocalTransactionId;
}

bool
nilus_token_active(void)
{
	return token_active();
}

void
nilus_set_token_identity(const char *tenant, int rights)
{
	if (token_identity.tenant)
		pfree(token_identity.tenant);
	token_identity.tenant = tenant ? MemoryContextStrdup(access_context(), tenant) : NULL;
	token_identity.rights = rights;
	token_identity.lxid = NILUS_MY_LXID;
}

static void
load_role_tenants(Oid role)
{
	static NilusPlan granted = {
		"SELECT tenant FROM nilus.tenant_role WHERE pg_catalog.pg_has_role($1, role_name, 'USAGE')",
		1, {OIDOID}
	};
	Datum		values[1] = {ObjectIdGetDatum(role)};
	int			guc_level = NewGUCNestLevel();

	list_free_deep(role_tenants.tenants);
	role_tenants.tenants = NIL;
	role_tenants.all = false;

	/*
	 * Under Citus this may run on a worker for a statement the coordinator
	 * sent (the row-level security of a shard): Citus then refuses any
	 * distributed query, though one of a reference table reads the copy at
	 * hand, which is exact.
	 */
	nilus_citus_allow_nested();
	nilus_spi_connect();
	nilus_execute(&granted, values, NULL, true, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *tenant = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext spi = MemoryContextSwitchTo(access_context());

		if (strcmp(tenant, ALL_TENANTS) == 0)
			role_tenants.all = true;
		role_tenants.tenants = lappend(role_tenants.tenants, pstrdup(tenant));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	AtEOXact_GUC(true, guc_level);
	role_tenants.role = role;
	role_tenants.lxid = NILUS_MY_LXID;
}

static Oid
caller(void)
{
	return GetOuterUserId();
}

static bool
role_may_see(const char *tenant)
{
	Oid			role = caller();
	ListCell   *cell;

	if (role_tenants.lxid != NILUS_MY_LXID || role_tenants.role != role)
		load_role_tenants(role);
	if (role_tenants.all)
		return true;
	foreach(cell, role_tenants.tenants)
		if (strcmp((char *) lfirst(cell), tenant) == 0)
			return true;
	return false;
}

static bool
token_may_see(const char *tenant)
{
	return token_identity.tenant == NULL || strcmp(token_identity.tenant, tenant) == 0;
}

void
nilus_require_access(const char *tenant, NilusRight right)
{
	if (token_active())
	{
		if (tenant != NULL && !token_may_see(tenant))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("token is not valid for tenant \"%s\"", tenant),
					 errdetail("The token is for tenant \"%s\" only.", token_identity.tenant),
					 nilus_errparameter("tenant")));
		if ((token_identity.rights & (1 << right)) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("token lacks the \"%s\" right this call needs", nilus_right_name(right)),
					 errhint("A token's rights are given when it is created: "
							 "nilus.create_token(tenant, ARRAY['%s'], label).", nilus_right_name(right))));
		return;
	}
	if (tenant == NULL || superuser_arg(caller()) || role_may_see(tenant))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" has no access to tenant \"%s\"",
					GetUserNameFromId(caller(), false), tenant),
			 errhint("A tenant is granted to a role by a row in nilus.tenant_role."),
			 nilus_errparameter("tenant")));
}

char *
nilus_arg_tenant_for(FunctionCallInfo fcinfo, NilusRight right)
{
	char	   *tenant = nilus_arg_tenant(fcinfo);

	nilus_require_access(tenant, right);
	return tenant;
}

PG_FUNCTION_INFO_V1(nilus_tenant_visible);

/*
 * The row-level security predicate of every data table, called for every
 * row: its one argument is read by position, not by name.
 */
Datum
nilus_tenant_visible(PG_FUNCTION_ARGS)
{
	text	   *row_tenant = PG_GETARG_TEXT_PP(0);
	char	   *tenant;

	/* The common case, a tenant token, compares without copying the row's tenant. */
	if (token_active() && token_identity.tenant != NULL)
		PG_RETURN_BOOL(VARSIZE_ANY_EXHDR(row_tenant) == strlen(token_identity.tenant) &&
					   memcmp(VARDATA_ANY(row_tenant), token_identity.tenant,
							  VARSIZE_ANY_EXHDR(row_tenant)) == 0);
	tenant = text_to_cstring(row_tenant);
	if (token_active())
		PG_RETURN_BOOL(token_may_see(tenant));
	PG_RETURN_BOOL(superuser_arg(caller()) || role_may_see(tenant));
}
