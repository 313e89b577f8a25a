/*
 * distribute.c: nilus on a Citus cluster.
 *
 * nilus.distribute() makes the token and role tables reference tables,
 * distributes every tenant table by tenant (colocated with pipeline_run, so
 * that one tenant's rows of every table live on one worker) and makes each
 * route's function a distributed function delegated by its tenant argument:
 * the call runs on the worker that holds the tenant, where its statements
 * read and write local shards only.
 *
 * A delegated call runs in a backend of the worker that never saw the
 * caller's token (authenticate ran on the coordinator).  So the token is
 * checked where it is known: a planner hook on the coordinator checks every
 * route call's tenant and right against it before Citus plans (and
 * delegates) the call; on the worker the function checks the role the
 * connection runs as, like any call without a token.  The shim's role must
 * therefore be granted every tenant on a cluster (see README, Scaling out).
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "distribute.h"
#include "spi.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

static planner_hook_type previous_planner = NULL;

/* The right a call of funcid needs when it is an API function of nilus with a tenant; or -1. */
static int
route_right(Oid funcid)
{
	char	   *schema = get_namespace_name(get_func_namespace(funcid));

	if (schema == NULL || strcmp(schema, "nilus") != 0)
		return -1;
	return nilus_right_of_function(get_func_name(funcid));
}

/*
 * A route call's tenant as Citus will see it (the argument folded with the
 * statement's parameters); the same checks as the function's own first
 * steps, so that the caller gets the same error from either.  A tenant that
 * does not fold to a constant cannot be delegated: the function runs here
 * and checks the token itself.
 */
static void
check_route_call(FuncExpr *call, NilusRight right, ParamListInfo params)
{
	PlannerGlobal glob = {.boundParams = params};
	PlannerInfo root = {.type = T_PlannerInfo, .glob = &glob};
	FuncExpr   *folded = (FuncExpr *) eval_const_expressions(&root, copyObject((Node *) call));
	FmgrInfo	flinfo = {.fn_oid = call->funcid};
	int			argno;
	Node	   *tenant;
	LOCAL_FCINFO(fcinfo, FUNC_MAX_ARGS);

	if (!IsA(folded, FuncExpr) || folded->args == NIL)
		return;
	InitFunctionCallInfoData(*fcinfo, &flinfo, list_length(folded->args), InvalidOid, NULL, NULL);
	argno = nilus_argno(fcinfo, "tenant");
	tenant = strip_implicit_coercions(list_nth(folded->args, argno));
	if (!IsA(tenant, Const) || ((Const *) tenant)->consttype != TEXTOID)
		return;
	for (int i = 0; i < fcinfo->nargs; i++)
		fcinfo->args[i].isnull = true;
	fcinfo->args[argno].value = ((Const *) tenant)->constvalue;
	fcinfo->args[argno].isnull = ((Const *) tenant)->constisnull;
	(void) nilus_arg_tenant_for(fcinfo, right);
}

static bool
check_route_calls(Node *node, ParamListInfo params)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, check_route_calls, params, 0);
	if (IsA(node, FuncExpr))
	{
		int			right = route_right(((FuncExpr *) node)->funcid);

		if (right >= 0 && ((FuncExpr *) node)->args != NIL)
			check_route_call((FuncExpr *) node, (NilusRight) right, params);
	}
	return expression_tree_walker(node, check_route_calls, params);
}

static PlannedStmt *
check_then_plan(Query *parse, const char *query_string, int cursor_options, ParamListInfo params)
{
	/* Without a token the function checks the caller's role itself, wherever it runs. */
	if (nilus_token_active() && nilus_citus_loaded())
		check_route_calls((Node *) parse, params);
	if (previous_planner)
		return previous_planner(parse, query_string, cursor_options, params);
	return standard_planner(parse, query_string, cursor_options, params);
}

/*
 * The parameter an error names travels in its column field, which Citus
 * does not pass on when it raises a worker's error on the coordinator (it
 * keeps the SQLSTATE, message, detail, hint and context).  So a worker
 * answering the coordinator adds it to the context, and the coordinator
 * takes it back out into the column field before the client sees it.
 */
#define PARAMETER_CONTEXT "nilus parameter: "

static emit_log_hook_type previous_emit_log = NULL;

static bool
answering_citus(void)
{
	return application_name != NULL &&
		strncmp(application_name, "citus_internal gpid=", strlen("citus_internal gpid=")) == 0;
}

/* context without its first line "nilus parameter: X", X into column_name. */
static void
take_parameter(ErrorData *edata)
{
	const char *parameter = edata->context + strlen(PARAMETER_CONTEXT);
	const char *end = strchr(parameter, '\n');

	edata->column_name = end ? pnstrdup(parameter, end - parameter) : pstrdup(parameter);
	edata->context = end ? pstrdup(end + 1) : NULL;
}

static void
carry_parameter(ErrorData *edata)
{
	if (edata->elevel == ERROR && nilus_citus_loaded())
	{
		if (edata->column_name != NULL && answering_citus())
			edata->context = edata->context
				? psprintf(PARAMETER_CONTEXT "%s\n%s", edata->column_name, edata->context)
				: psprintf(PARAMETER_CONTEXT "%s", edata->column_name);
		else if (edata->column_name == NULL && edata->context != NULL &&
				 strncmp(edata->context, PARAMETER_CONTEXT, strlen(PARAMETER_CONTEXT)) == 0)
			take_parameter(edata);
	}
	if (previous_emit_log)
		previous_emit_log(edata);
}

void
nilus_distribute_init(void)
{
	previous_planner = planner_hook;
	planner_hook = check_then_plan;
	previous_emit_log = emit_log_hook;
	emit_log_hook = carry_parameter;
}

/* Runs one administrative statement of distribute(); values: its one text parameter, if any. */
static void
run(const char *sql, Datum *values)
{
	int			rc = values
		? SPI_execute_with_args(sql, 1, (Oid[]) {TEXTARRAYOID}, values, NULL, false, 0)
		: SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "nilus: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

/* The API functions (include/nilus_api.h): those with a tenant argument are delegated. */
static ArrayType *
api_function_names(void)
{
#define API_FUNCTION_NAME(name, right) CStringGetTextDatum(#name),
	Datum		names[] = {NILUS_API_FUNCTIONS(API_FUNCTION_NAME)};
#undef API_FUNCTION_NAME

	return construct_array(names, lengthof(names), TEXTOID, -1, false, TYPALIGN_INT);
}

PG_FUNCTION_INFO_V1(nilus_distribute);

/*
 * Each step skips what an earlier call already did, so the function can run
 * again (after an upgrade added a table or a function, say).
 */
Datum
nilus_distribute(PG_FUNCTION_ARGS)
{
	Datum		names;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("nilus.distribute() must be run by a superuser")));
	if (!OidIsValid(get_extension_oid("citus", true)) || !nilus_citus_loaded())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("nilus.distribute() needs Citus, which is not installed in this database"),
				 errhint("Put citus first in shared_preload_libraries, run CREATE EXTENSION citus "
						 "and add the workers with citus_add_node(), then call nilus.distribute() "
						 "on the coordinator.")));
	names = PointerGetDatum(api_function_names());

	SPI_connect();
	/* The rollup trigger keeps colocated rollups on the run's own worker: safe here. */
	run("SELECT set_config('citus.enable_unsafe_triggers', 'on', true)", NULL);
	/*
	 * The functions run as nilus_owner (SECURITY DEFINER), and Citus reaches
	 * the workers as the role running the statement: on a cluster the owner
	 * must be able to log in (node to node only: see README, Scaling out).
	 * Moving a shard creates its table on the new node as the table's owner.
	 */
	run("ALTER ROLE nilus_owner LOGIN PASSWORD NULL", NULL);
	run("GRANT CREATE ON SCHEMA nilus TO nilus_owner", NULL);
	/*
	 * Retention policies are read with the default row '*' beside the
	 * tenant's: a copy on every node (an earlier distribute() had spread them
	 * by tenant).
	 */
	run("SELECT undistribute_table('nilus.retention_policy') "
		"WHERE EXISTS (SELECT FROM pg_dist_partition "
		"              WHERE logicalrelid = 'nilus.retention_policy'::regclass AND partmethod = 'h')", NULL);
	run("SELECT create_reference_table(t) "
		"FROM unnest(ARRAY['nilus.api_token', 'nilus.tenant_role', 'nilus.retention_policy']::regclass[]) AS t "
		"WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = t)", NULL);

	/*
	 * A statement a function sends from the coordinator (its caller already
	 * checked there) arrives on the worker as nilus_owner, where the forced
	 * row-level security checks that role: it acts for every tenant.
	 */
	run("INSERT INTO nilus.tenant_role VALUES ('*', 'nilus_owner') ON CONFLICT DO NOTHING", NULL);
	/* A sequence default would be taken over by Citus (one range per node): see the README. */
	run("ALTER TABLE nilus.cdc_offset ALTER COLUMN record_insert_seq "
		"SET DEFAULT nilus.next_record_insert_seq()", NULL);
	run("ALTER TABLE nilus.cdc_schema_history ALTER COLUMN record_insert_seq "
		"SET DEFAULT nilus.next_record_insert_seq()", NULL);
	run("SELECT create_distributed_table('nilus.pipeline_run', 'tenant') "
		"WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'nilus.pipeline_run'::regclass)",
		NULL);
	run("SELECT create_distributed_table(c.oid::regclass, 'tenant', colocate_with => 'nilus.pipeline_run') "
		"FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant' "
		"WHERE c.relnamespace = 'nilus'::regnamespace AND c.relkind IN ('r', 'p') "
		"  AND NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = c.oid) "
		"ORDER BY c.relname", NULL);
	run("SELECT create_distributed_function(p.oid::regprocedure, 'tenant', "
		"                                   colocate_with => 'nilus.pipeline_run') "
		"FROM pg_proc p WHERE p.pronamespace = 'nilus'::regnamespace AND p.proname = ANY ($1) "
		"  AND 'tenant' = ANY (p.proargnames) "
		"ORDER BY p.oid", &names);

	/*
	 * A batch of retention runs where its tenant's shards are, so that the
	 * rollup trigger it holds off is the one that fires and its statements
	 * read and write local shards.  apply_retention calls it inside its own
	 * transactions (a procedure's), where Citus delegates only a function
	 * forced to.
	 */
	run("SELECT create_distributed_function('nilus.prune_batch(text, text, integer, timestamptz)', 'tenant', "
		"                                   colocate_with => 'nilus.pipeline_run', force_delegation => true)",
		NULL);
	SPI_finish();
	PG_RETURN_VOID();
}

