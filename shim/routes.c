/*
 * routes.c: THE route table, and what a row says: its pattern's slot and
 * placeholders, its query parameters.  Matching, value syntax and SQL are
 * derived from it in route_match.c, value_syntax.c and route_sql.c.
 */
#include "routes.h"

#include <string.h>

#define TENANTS API_BASE "/tenants/{tenant}"

static const struct param p_run_as_user = {"run_as_user", PT_TEXT, "Only runs of this user."};
static const struct param p_is_success = {"is_success", PT_BOOLEAN,
	"true: only successful runs; false: only failed runs."};
static const struct param p_resource_id = {"resource_id", PT_TEXT,
	"Only records of this DataOS resource id."};
static const struct param p_started_at = {"started_at", PT_DAY_OR_TIMESTAMP,
	"A UTC day (YYYY-MM-DD): runs started that day; or an exact start timestamp (RFC 3339)."};
static const struct param p_started_at_gte = {"started_at_gte", PT_TIMESTAMPTZ,
	"Only runs started at or after this time (RFC 3339)."};
static const struct param p_started_at_lte = {"started_at_lte", PT_TIMESTAMPTZ,
	"Only runs started at or before this time (RFC 3339)."};
static const struct param p_limit = {"limit", PT_INTEGER, "Page size, 1 to 1000 (default 50)."};
static const struct param p_offset = {"offset", PT_INTEGER,
	"Number of records to skip, 0 or more (default 0)."};
static const struct param p_period = {"period", PT_PERIOD,
	"Window ending now: <n>m, <n>h, <n>d or <n>w, at most 366d (default 24h)."};
static const struct param p_connector_name = {"connector_name", PT_TEXT,
	"Only records of this connector."};
static const struct param p_offset_key = {"offset_key", PT_TEXT, "Only records of this offset key."};
static const struct param p_insert_gte = {"record_insert_ts_gte", PT_TIMESTAMPTZ,
	"Only records stored at or after this time (RFC 3339)."};
static const struct param p_insert_lte = {"record_insert_ts_lte", PT_TIMESTAMPTZ,
	"Only records stored at or before this time (RFC 3339)."};

/* Order = the SQL function's parameter order (after the path parameters). */
static const struct param *const q_pipelines[] = {
	&p_run_as_user, &p_is_success, &p_resource_id, &p_started_at,
	&p_started_at_gte, &p_started_at_lte, &p_limit, &p_offset, NULL
};
static const struct param *const q_runs[] = {
	&p_run_as_user, &p_is_success, &p_started_at,
	&p_started_at_gte, &p_started_at_lte, &p_limit, &p_offset, NULL
};
static const struct param *const q_stats[] = {&p_period, NULL};
static const struct param *const q_cdc_offsets[] = {
	&p_resource_id, &p_connector_name, &p_offset_key,
	&p_insert_gte, &p_insert_lte, &p_limit, &p_offset, NULL
};
static const struct param *const q_cdc_history[] = {
	&p_resource_id, &p_connector_name, &p_insert_gte, &p_insert_lte, &p_limit, &p_offset, NULL
};

#define API(m, path, fn, q, body, st, right, tag, sum, in, out) \
	{m, API_BASE path, RK_API, fn, q, body, st, right, tag, sum, in, out}
#define DOC(path, kind, sum) \
	{"GET", "/nilus-manager" path, kind, NULL, NULL, false, 200, NULL, NULL, sum, NULL, NULL}

const struct route routes[] = {
	API("GET", "/health", "health", NULL, false, 200, "read", "service",
		"Service and database health", NULL, "Health"),
	API("GET", "/info", "info", NULL, false, 200, "read", "service",
		"Service name, version, extension version and build", NULL, "Info"),
	API("GET", "/tenants/{tenant}/pipelines", "list_pipelines", q_pipelines, false, 200,
		"read", "runs", "Pipeline runs of the tenant, newest first", NULL, "PipelineList"),
	API("GET", "/tenants/{tenant}/pipelines/{resource_id}/runs", "list_runs", q_runs, false, 200,
		"read", "runs", "Runs of one pipeline resource, newest first", NULL, "RunList"),
	API("GET", "/tenants/{tenant}/pipelines/{resource_id}/stats", "pipeline_stats", q_stats, false,
		200, "read", "runs", "Statistics of the finished runs started within the period",
		NULL, "Stats"),
	API("GET", "/tenants/{tenant}/cdc/offset-storage", "list_cdc_offsets", q_cdc_offsets, false,
		200, "read", "cdc", "CDC offset records of the tenant, newest first", NULL, "OffsetList"),
	API("GET", "/tenants/{tenant}/cdc/schema-history", "list_cdc_schema_history", q_cdc_history,
		false, 200, "read", "cdc", "CDC schema-history records of the tenant, newest first",
		NULL, "SchemaHistoryList"),
	API("POST", "/tenants/{tenant}/pipeline/runs", "store_run", NULL, true, 200, "runtime",
		"runtime", "Store a run at its start or end (idempotent upsert by run_id)",
		"RunInput", "StoredRun"),
	API("GET", "/tenants/{tenant}/pipeline/{pipeline_name}/state", "get_state", NULL, false, 200,
		"runtime", "runtime", "Latest successful state of the pipeline", NULL, "State"),
	API("POST", "/tenants/{tenant}/pipeline/{pipeline_name}/state", "store_state", NULL, true, 201,
		"runtime", "runtime", "Store a new state version", "StateInput", "StateStored"),
	API("GET", "/tenants/{tenant}/pipeline/{pipeline_name}/offsets", "get_offsets", NULL, false,
		200, "runtime", "runtime", "Latest CDC offset of each key", NULL, "Offsets"),
	API("POST", "/tenants/{tenant}/pipeline/{pipeline_name}/offsets", "store_offsets", NULL, true,
		201, "runtime", "runtime", "Append a batch of CDC offsets (atomic, idempotent by id)",
		"OffsetsInput", "Stored"),
	API("GET", "/tenants/{tenant}/pipeline/{pipeline_name}/schema-history", "get_schema_history",
		NULL, false, 200, "runtime", "runtime", "CDC schema history in insertion order",
		NULL, "SchemaHistory"),
	API("POST", "/tenants/{tenant}/pipeline/{pipeline_name}/schema-history",
		"store_schema_history", NULL, true, 201, "runtime", "runtime",
		"Append a batch of CDC schema-history records (atomic, idempotent by id)",
		"SchemaHistoryInput", "Stored"),
	API("GET", "/tenants/{tenant}/pipeline/{pipeline_name}/schema-history/exists",
		"schema_history_exists", NULL, false, 200, "runtime", "runtime",
		"Whether the pipeline has schema history", NULL, "SchemaHistoryExists"),
	API("GET", "/tenants/{tenant}/storage/health", "storage_health", NULL, false, 200, "runtime",
		"runtime", "Health of the tenant's CDC state storage", NULL, "StorageHealth"),
	DOC("/openapi.json", RK_OPENAPI, "OpenAPI 3.1 document"),
	DOC("/docs", RK_SWAGGER_UI, "Swagger UI"),
	DOC("/redoc", RK_REDOC, "ReDoc"),
	DOC("/docs/{asset}", RK_DOCS_ASSET, "Scripts and stylesheets of the docs pages"),
};
const size_t n_routes = sizeof(routes) / sizeof(routes[0]);

_Static_assert(sizeof(routes) / sizeof(routes[0]) <= MAX_ROUTES, "raise MAX_ROUTES");

size_t
route_index(const struct route *route)
{
	return (size_t) (route - routes);
}

/* Derived once by routes_init(), before any thread reads them. */
static size_t pattern_slot[MAX_ROUTES];
static size_t pattern_count;

size_t
route_pattern_slot(const struct route *route)
{
	return pattern_slot[route_index(route)];
}

size_t
route_pattern_count(void)
{
	return pattern_count;
}

const char *
route_pattern(size_t slot)
{
	for (size_t i = 0; i < n_routes; i++)
		if (pattern_slot[i] == slot)
			return routes[i].pattern;
	return NULL;
}

static void
assign_slots(void)
{
	for (size_t i = 0; i < n_routes; i++)
	{
		size_t		j = 0;

		while (strcmp(routes[j].pattern, routes[i].pattern) != 0)
			j++;
		pattern_slot[i] = (j == i) ? pattern_count++ : pattern_slot[j];
	}
}

size_t
route_query_count(const struct route *route)
{
	size_t		n = 0;

	while (route->query && route->query[n])
		n++;
	return n;
}

const char *
route_path_param(const struct route *route, size_t i, size_t *len)
{
	const char *p = route->pattern;

	while ((p = strchr(p, '{')) != NULL)
	{
		const char *end = strchr(p, '}');

		if (i-- == 0)
		{
			*len = (size_t) (end - p - 1);
			return p + 1;
		}
		p = end;
	}
	return NULL;
}

size_t
route_path_param_count(const struct route *route)
{
	size_t		n = 0;
	size_t		len;

	while (route_path_param(route, n, &len))
		n++;
	return n;
}

const struct param *
route_query_param(const struct route *route, const char *name, size_t *index)
{
	for (size_t i = 0; route->query && route->query[i]; i++)
		if (strcmp(route->query[i]->name, name) == 0)
		{
			*index = i;
			return route->query[i];
		}
	return NULL;
}

/* Names clients of the previous service still send. */
static const struct
{
	const char *retired;
	const char *current;
}			successors[] = {
	{"dataos_resource_id", "resource_id"},
};

const char *
param_successor(const char *name)
{
	for (size_t i = 0; i < sizeof(successors) / sizeof(successors[0]); i++)
		if (strcmp(successors[i].retired, name) == 0)
			return successors[i].current;
	return NULL;
}

void
routes_init(void)
{
	assign_slots();
}
