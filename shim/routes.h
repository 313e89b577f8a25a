/*
 * routes.h: the route table.  One table drives routing, method checks,
 * parameter checks and binding, the prepared SQL and the OpenAPI document,
 * so that none of them can drift from the others.
 */
#ifndef NILUS_ROUTES_H
#define NILUS_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "value_syntax.h"

#define API_BASE "/nilus-manager/api/v1"

/* The most path parameters (tenant + resource or pipeline) plus query parameters of any route. */
#define MAX_PATH_PARAMS 2
#define MAX_QUERY_PARAMS 8
#define MAX_BOUND_PARAMS (MAX_PATH_PARAMS + MAX_QUERY_PARAMS + 1)
#define MAX_ROUTES 32

/* An integer parameter's bound, when it has one. */
struct bound
{
	bool		set;
	int			value;
};

#define BOUND(v) {.set = true, .value = (v)}

struct param
{
	const char *name;
	enum param_type type;
	const char *description;
	const char *default_value;	/* what the SQL function takes when not given; NULL: none */
	struct bound minimum;		/* PT_INTEGER: the range OpenAPI documents */
	struct bound maximum;
};

enum route_kind
{
	RK_API,						/* one SQL function call behind a bearer token */
	RK_OPENAPI,
	RK_SWAGGER_UI,
	RK_REDOC,
	RK_DOCS_ASSET,				/* one file of --docs-dir, named by the last segment */
	RK_DASHBOARD,				/* the dashboard page (dashboard.html of --docs-dir) */
	RK_REDIRECT					/* .status with .location, no body */
};

struct route
{
	const char *method;
	const char *pattern;		/* literal segments and {name} placeholders */
	enum route_kind kind;
	const char *function;		/* in schema nilus; NULL unless RK_API */
	const struct param *const *query;	/* NULL-terminated; NULL = none */
	bool body;					/* the JSON body is the function's last argument */
	int status;					/* success status */
	bool probe;					/* a health check: a connection of its own, never behind data calls */
	const char *tag;
	const char *summary;
	const char *body_schema;	/* OpenAPI component names */
	const char *response_schema;
	const char *location;		/* RK_REDIRECT: relative to the request's path (proxies may move it) */
};

extern const struct route routes[];
extern const size_t n_routes;

/*
 * Derives pattern slots and checks that the table serves exactly the API
 * functions of nilus_api.h; false (with a message on stderr) when not.
 * Call once before serving.
 */
bool routes_init(void);

/* The right ("read", "runtime") the extension checks for an RK_API route. */
const char *route_right(const struct route *route);

/* Distinct patterns, in table order: the unit of 404/405 decisions and metrics. */
size_t route_pattern_count(void);
const char *route_pattern(size_t slot);
size_t route_pattern_slot(const struct route *route);

size_t route_query_count(const struct route *route);
size_t route_path_param_count(const struct route *route);
/* The name of the i-th placeholder of the route's pattern. */
const char *route_path_param(const struct route *route, size_t i, size_t *len);

/* The current name of a retired query parameter (dataos_resource_id -> resource_id), or NULL. */
const char *param_successor(const char *name);

/* Query parameters: find one by name among the route's declared ones. */
const struct param *route_query_param(const struct route *route, const char *name, size_t *index);

/* A unique index for the route, usable as an array index and statement name. */
size_t route_index(const struct route *route);

#endif
