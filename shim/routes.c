/*
 * routes.c: THE route table, and what a row says: its pattern's slot and
 * placeholders, its query parameters.  Matching, value syntax and SQL are
 * derived from it in route_match.c, value_syntax.c and route_sql.c.
 */
#include "routes.h"

#include <stdio.h>
#include <string.h>

#include "nilus_api.h"

#define TENANTS API_BASE "/tenants/{tenant}"
#define DOCS "/nilus-manager"
/* A number of nilus_api.h as text, for descriptions. */
#define TEXT_OF(x) #x
#define NUMBER_TEXT(x) TEXT_OF(x)

static const struct param p_run_as_user = {
	.name = "run_as_user", .type = PT_TEXT,
	.description = "Only runs of this user."};
static const struct param p_is_success = {
	.name = "is_success", .type = PT_BOOLEAN,
	.description = "true: only successful runs; false: only failed runs."};
static const struct param p_resource_id = {
	.name = "resource_id", .type = PT_TEXT,
	.description = "Only records of this DataOS resource id."};
static const struct param p_started_at = {
	.name = "started_at", .type = PT_DAY_OR_TIMESTAMP,
	.description = "A UTC day (YYYY-MM-DD): runs started that day; or an exact start timestamp (RFC 3339)."};
static const struct param p_started_at_gte = {
	.name = "started_at_gte", .type = PT_TIMESTAMPTZ,
	.description = "Only runs started at or after this time (RFC 3339)."};
static const struct param p_started_at_lte = {
	.name = "started_at_lte", .type = PT_TIMESTAMPTZ,
	.description = "Only runs started at or before this time (RFC 3339)."};
static const struct param p_limit = {
	.name = "limit", .type = PT_INTEGER,
	.description = "Page size, " NUMBER_TEXT(NILUS_LIMIT_MIN) " to " NUMBER_TEXT(NILUS_LIMIT_MAX)
	" (default " NUMBER_TEXT(NILUS_LIMIT_DEFAULT) ").",
	.default_value = NUMBER_TEXT(NILUS_LIMIT_DEFAULT),
	.minimum = BOUND(NILUS_LIMIT_MIN), .maximum = BOUND(NILUS_LIMIT_MAX)};
static const struct param p_offset = {
	.name = "offset", .type = PT_INTEGER,
	.description = "Number of records to skip, 0 or more (default 0).",
	.default_value = "0", .minimum = BOUND(0)};
static const struct param p_period = {
	.name = "period", .type = PT_PERIOD,
	.description = "Window ending now: <n>m, <n>h, <n>d or <n>w, at most "
	NUMBER_TEXT(NILUS_PERIOD_MAX_DAYS) "d (default " NILUS_PERIOD_DEFAULT ").",
	.default_value = NILUS_PERIOD_DEFAULT};
static const struct param p_bucket = {
	.name = "bucket", .type = PT_BUCKET,
	.description = "One row per UTC hour (1h) or day (1d); by default 1h for periods up to 7d, else 1d."};
static const struct param p_connector_name = {
	.name = "connector_name", .type = PT_TEXT,
	.description = "Only records of this connector."};
static const struct param p_offset_key = {
	.name = "offset_key", .type = PT_TEXT,
	.description = "Only records of this offset key."};
static const struct param p_insert_gte = {
	.name = "record_insert_ts_gte", .type = PT_TIMESTAMPTZ,
	.description = "Only records stored at or after this time (RFC 3339)."};
static const struct param p_insert_lte = {
	.name = "record_insert_ts_lte", .type = PT_TIMESTAMPTZ,
	.description = "Only records stored at or before this time (RFC 3339)."};

/* In the order OpenAPI lists them; SQL takes them by name (route_sql.c). */
static const struct param *const q_pipelines[] = {
	&p_run_as_user, &p_is_success, &p_resource_id, &p_started_at,
	&p_started_at_gte, &p_started_at_lte, &p_limit, &p_offset, NULL
};
static const struct param *const q_runs[] = {
	&p_run_as_user, &p_is_success, &p_started_at,
	&p_started_at_gte, &p_started_at_lte, &p_limit, &p_offset, NULL
};
static const struct param *const q_stats[] = {&p_period, NULL};
static const struct param *const q_tenant_stats[] = {&p_period, &p_limit, &p_offset, NULL};
static const struct param *const q_series[] = {&p_period, &p_bucket, NULL};
static const struct param *const q_cdc_offsets[] = {
	&p_resource_id, &p_connector_name, &p_offset_key,
	&p_insert_gte, &p_insert_lte, &p_limit, &p_offset, NULL
};
static const struct param *const q_cdc_history[] = {
	&p_resource_id, &p_connector_name, &p_insert_gte, &p_insert_lte, &p_limit, &p_offset, NULL
};

/*
 * The rows.  A data route is one call of the SQL function nilus.<function>;
 * its arguments are the pattern's placeholders, then .query in order, then
 * the JSON body when .body is set.  The right a token needs is the
 * function's, in nilus_api.h (the extension checks it, OpenAPI documents
 * it); .body_schema and .response_schema name OpenAPI components (openapi.c).
 */
const struct route routes[] = {
	{
		.method = "GET", .pattern = API_BASE "/health",
		.kind = RK_API, .function = "health",
		.status = 200, .tag = "service",
		.probe = true,
		.summary = "Service and database health",
		.response_schema = "Health",
	},
	{
		.method = "GET", .pattern = API_BASE "/info",
		.kind = RK_API, .function = "info",
		.status = 200, .tag = "service",
		.probe = true,
		.summary = "Service name, version, extension version and build",
		.response_schema = "Info",
	},
	{
		.method = "GET", .pattern = TENANTS "/pipelines",
		.kind = RK_API, .function = "list_pipelines",
		.query = q_pipelines, .status = 200, .tag = "runs",
		.summary = "Pipeline runs of the tenant, newest first",
		.response_schema = "PipelineList",
	},
	{
		.method = "GET", .pattern = TENANTS "/pipelines/{resource_id}/runs",
		.kind = RK_API, .function = "list_runs",
		.query = q_runs, .status = 200, .tag = "runs",
		.summary = "Runs of one pipeline resource, newest first",
		.response_schema = "RunList",
	},
	{
		.method = "GET", .pattern = TENANTS "/pipelines/{resource_id}/stats",
		.kind = RK_API, .function = "pipeline_stats",
		.query = q_stats, .status = 200, .tag = "runs",
		.summary = "Statistics of the finished runs started within the period",
		.response_schema = "Stats",
	},
	{
		.method = "GET", .pattern = TENANTS "/stats",
		.kind = RK_API, .function = "tenant_stats",
		.query = q_tenant_stats, .status = 200, .tag = "insight",
		.summary = "Statistics of each resource with runs in the period, most failures first",
		.response_schema = "TenantStats",
	},
	{
		.method = "GET", .pattern = TENANTS "/pipelines/{resource_id}/series",
		.kind = RK_API, .function = "pipeline_series",
		.query = q_series, .status = 200, .tag = "insight",
		.summary = "Finished runs of one resource per hour or day over the period",
		.response_schema = "Series",
	},
	{
		.method = "GET", .pattern = TENANTS "/cdc/offset-storage",
		.kind = RK_API, .function = "list_cdc_offsets",
		.query = q_cdc_offsets, .status = 200, .tag = "cdc",
		.summary = "CDC offset records of the tenant, newest first",
		.response_schema = "OffsetList",
	},
	{
		.method = "GET", .pattern = TENANTS "/cdc/schema-history",
		.kind = RK_API, .function = "list_cdc_schema_history",
		.query = q_cdc_history, .status = 200, .tag = "cdc",
		.summary = "CDC schema-history records of the tenant, newest first",
		.response_schema = "SchemaHistoryList",
	},
	{
		.method = "POST", .pattern = TENANTS "/pipeline/runs",
		.kind = RK_API, .function = "store_run",
		.body = true, .status = 200, .tag = "runtime",
		.summary = "Store a run at its start or end (idempotent upsert by run_id)",
		.body_schema = "RunInput", .response_schema = "StoredRun",
	},
	{
		.method = "GET", .pattern = TENANTS "/pipeline/{pipeline_name}/state",
		.kind = RK_API, .function = "get_state",
		.status = 200, .tag = "runtime",
		.summary = "Latest successful state of the pipeline",
		.response_schema = "State",
	},
	{
		.method = "POST", .pattern = TENANTS "/pipeline/{pipeline_name}/state",
		.kind = RK_API, .function = "store_state",
		.body = true, .status = 201, .tag = "runtime",
		.summary = "Store a new state version",
		.body_schema = "StateInput", .response_schema = "StateStored",
	},
	{
		.method = "GET", .pattern = TENANTS "/pipeline/{pipeline_name}/offsets",
		.kind = RK_API, .function = "get_offsets",
		.status = 200, .tag = "runtime",
		.summary = "Latest CDC offset of each key",
		.response_schema = "Offsets",
	},
	{
		.method = "POST", .pattern = TENANTS "/pipeline/{pipeline_name}/offsets",
		.kind = RK_API, .function = "store_offsets",
		.body = true, .status = 201, .tag = "runtime",
		.summary = "Append a batch of CDC offsets (atomic, idempotent by id)",
		.body_schema = "OffsetsInput", .response_schema = "Stored",
	},
	{
		.method = "GET", .pattern = TENANTS "/pipeline/{pipeline_name}/schema-history",
		.kind = RK_API, .function = "get_schema_history",
		.status = 200, .tag = "runtime",
		.summary = "CDC schema history in insertion order",
		.response_schema = "SchemaHistory",
	},
	{
		.method = "POST", .pattern = TENANTS "/pipeline/{pipeline_name}/schema-history",
		.kind = RK_API, .function = "store_schema_history",
		.body = true, .status = 201, .tag = "runtime",
		.summary = "Append a batch of CDC schema-history records (atomic, idempotent by id)",
		.body_schema = "SchemaHistoryInput", .response_schema = "Stored",
	},
	{
		.method = "GET", .pattern = TENANTS "/pipeline/{pipeline_name}/schema-history/exists",
		.kind = RK_API, .function = "schema_history_exists",
		.status = 200, .tag = "runtime",
		.summary = "Whether the pipeline has schema history",
		.response_schema = "SchemaHistoryExists",
	},
	{
		.method = "GET", .pattern = TENANTS "/storage/health",
		.kind = RK_API, .function = "storage_health",
		.status = 200, .tag = "runtime",
		.summary = "Health of the tenant's CDC state storage",
		.response_schema = "StorageHealth",
	},
	{.method = "GET", .pattern = DOCS "/openapi.json", .kind = RK_OPENAPI, .status = 200,
		.summary = "OpenAPI 3.1 document"},
	{.method = "GET", .pattern = DOCS "/docs", .kind = RK_SWAGGER_UI, .status = 200,
		.summary = "Swagger UI"},
	{.method = "GET", .pattern = DOCS "/redoc", .kind = RK_REDOC, .status = 200,
		.summary = "ReDoc"},
	{.method = "GET", .pattern = DOCS "/docs/{asset}", .kind = RK_DOCS_ASSET, .status = 200,
		.summary = "Scripts and stylesheets of the docs pages"},
	{.method = "GET", .pattern = DOCS "/ui", .kind = RK_DASHBOARD, .status = 200,
		.summary = "Dashboard: resources, runs over time, latest runs, CDC offsets"},
	/* Where people look first: each resolves to /nilus-manager/docs. */
	{.method = "GET", .pattern = "/", .kind = RK_REDIRECT, .status = 302,
		.location = "nilus-manager/docs", .summary = "To the docs"},
	{.method = "GET", .pattern = DOCS, .kind = RK_REDIRECT, .status = 302,
		.location = "nilus-manager/docs", .summary = "To the docs"},
	{.method = "GET", .pattern = DOCS "/", .kind = RK_REDIRECT, .status = 302,
		.location = "docs", .summary = "To the docs"},
	{.method = "GET", .pattern = DOCS "/docs/", .kind = RK_REDIRECT, .status = 302,
		.location = "../docs", .summary = "To the docs"},
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

const char *
route_right(const struct route *route)
{
	return nilus_right_name((NilusRight) nilus_right_of_function(route->function));
}

static bool
served(const char *function)
{
	for (size_t i = 0; i < n_routes; i++)
		if (routes[i].kind == RK_API && strcmp(routes[i].function, function) == 0)
			return true;
	return false;
}

/* Every route calls a function of NILUS_API_FUNCTIONS, and every one has a route. */
static bool
routes_match_api_functions(void)
{
#define API_FUNCTION_NAME(function, right) #function,
	static const char *const functions[] = {NILUS_API_FUNCTIONS(API_FUNCTION_NAME)};
#undef API_FUNCTION_NAME
	bool		ok = true;

	for (size_t i = 0; i < n_routes; i++)
		if (routes[i].kind == RK_API && nilus_right_of_function(routes[i].function) < 0)
		{
			fprintf(stderr, "nilus-manager: route %s calls nilus.%s, which NILUS_API_FUNCTIONS lacks\n",
					routes[i].pattern, routes[i].function);
			ok = false;
		}
	for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
		if (!served(functions[i]))
		{
			fprintf(stderr, "nilus-manager: no route calls nilus.%s of NILUS_API_FUNCTIONS\n",
					functions[i]);
			ok = false;
		}
	return ok;
}

bool
routes_init(void)
{
	assign_slots();
	return routes_match_api_functions();
}
