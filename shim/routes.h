/*
 * routes.h: the route table.  One table drives routing, method checks,
 * parameter checks and binding, the prepared SQL and the OpenAPI document,
 * so that none of them can drift from the others.
 */
#ifndef NILUS_ROUTES_H
#define NILUS_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#define API_BASE "/nilus-manager/api/v1"

/* The most path parameters (tenant + resource or pipeline) plus query parameters of any route. */
#define MAX_PATH_PARAMS 2
#define MAX_QUERY_PARAMS 8
#define MAX_BOUND_PARAMS (MAX_PATH_PARAMS + MAX_QUERY_PARAMS + 1)
#define MAX_ROUTES 32

enum param_type
{
	PT_TEXT,
	PT_BOOLEAN,
	PT_INTEGER,
	PT_TIMESTAMPTZ,
	PT_DAY_OR_TIMESTAMP,		/* a UTC day YYYY-MM-DD or a timestamp; bound as text */
	PT_PERIOD					/* <n>m, <n>h, <n>d or <n>w; bound as text */
};

struct param
{
	const char *name;
	enum param_type type;
	const char *description;
};

enum route_kind
{
	RK_API,						/* one SQL function call behind a bearer token */
	RK_OPENAPI,
	RK_SWAGGER_UI,
	RK_REDOC,
	RK_DOCS_ASSET				/* one file of --docs-dir, named by the last segment */
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
	const char *right;			/* right the extension checks: "read" or "runtime" */
	const char *tag;
	const char *summary;
	const char *body_schema;	/* OpenAPI component names */
	const char *response_schema;
};

extern const struct route routes[];
extern const size_t n_routes;

/* Derives pattern slots and SQL texts; call once before serving. */
void routes_init(void);

/* Distinct patterns, in table order: the unit of 404/405 decisions and metrics. */
size_t route_pattern_count(void);
const char *route_pattern(size_t slot);
size_t route_pattern_slot(const struct route *route);

size_t route_query_count(const struct route *route);
size_t route_path_param_count(const struct route *route);
/* The name of the i-th placeholder of the route's pattern. */
const char *route_path_param(const struct route *route, size_t i, size_t *len);

/*
 * Matching.  The path is the raw (still percent-encoded) request path.
 * ROUTE_MATCH_NONE: no pattern fits; ROUTE_MATCH_METHOD: a pattern fits but
 * not for this method (allow lists the methods that do); ROUTE_MATCH_BAD_ESCAPE:
 * a placeholder segment is not valid percent-encoded UTF-8.
 */
enum route_match
{
	ROUTE_MATCH_OK,
	ROUTE_MATCH_NONE,
	ROUTE_MATCH_METHOD,
	ROUTE_MATCH_BAD_ESCAPE
};

struct match
{
	const struct route *route;
	size_t slot;				/* pattern slot, also for ROUTE_MATCH_METHOD */
	char *path_values[MAX_PATH_PARAMS]; /* decoded; owned by the match */
	char allow[64];
};

enum route_match route_find(const char *method, const char *path, struct match *match);
void match_release(struct match *match);

/* The current name of a retired query parameter (dataos_resource_id -> resource_id), or NULL. */
const char *param_successor(const char *name);

/* Query parameters: find one by name among the route's declared ones. */
const struct param *route_query_param(const struct route *route, const char *name, size_t *index);

/*
 * Checks a decoded value against its declared type.  Returns NULL when it
 * fits, else the reason ("must be true or false").  May rewrite the value in
 * place into the form bound to SQL (a space before a UTC offset, as '+'
 * arrives from form encoding, becomes '+' again).
 */
const char *param_check(const struct param *param, char *value);

/* Percent-decodes into a new string; '+' is a space when form is set.  NULL when malformed or not UTF-8. */
char *percent_decode(const char *raw, size_t len, bool form);

/* The SQL text of the route's prepared statement. */
const char *route_sql(const struct route *route);
/* A unique index for the route, usable as an array index and statement name. */
size_t route_index(const struct route *route);

#endif
