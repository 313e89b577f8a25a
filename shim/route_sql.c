/*
 * route_sql.c: the prepared SQL of each route.  Arguments are passed by
 * name, so the call binds the right values whatever the order of the SQL
 * function's parameters.
 */
#include "route_sql.h"

#include <stdio.h>
#include <string.h>

/* Derived once by route_sql_init(), before any connection reads them. */
static char route_sql_text[MAX_ROUTES][512];

static const char *
sql_type(enum param_type type)
{
	switch (type)
	{
		case PT_BOOLEAN:
			return "boolean";
		case PT_INTEGER:
			return "integer";
		case PT_TIMESTAMPTZ:
			return "timestamptz";
		case PT_TEXT:
		case PT_DAY_OR_TIMESTAMP:
		case PT_PERIOD:
		case PT_BUCKET:
			break;
	}
	return "text";
}

/* Appends one named argument: "name" => $n::type. */
static void
sql_arg(char *buf, size_t size, const char *name, size_t name_len, int n, const char *type)
{
	size_t		used = strlen(buf);

	snprintf(buf + used, size - used, "%s\"%.*s\" => $%d::%s",
			 n > 1 ? ", " : "", (int) name_len, name, n, type);
}

static void
build_sql(const struct route *route, char *buf, size_t size)
{
	size_t		npath = route_path_param_count(route);
	int			n = 0;

	snprintf(buf, size, "SELECT nilus.%s(", route->function);
	for (size_t i = 0; i < npath; i++)
	{
		size_t		len = 0;
		const char *name = route_path_param(route, i, &len);

		sql_arg(buf, size, name, len, ++n, "text");
	}
	for (size_t i = 0; route->query && route->query[i]; i++)
		sql_arg(buf, size, route->query[i]->name, strlen(route->query[i]->name), ++n,
				sql_type(route->query[i]->type));
	if (route->body)
		sql_arg(buf, size, "body", 4, ++n, "jsonb");
	snprintf(buf + strlen(buf), size - strlen(buf), ")");
}

const char *
route_sql(const struct route *route)
{
	return route_sql_text[route_index(route)];
}

void
route_sql_init(void)
{
	for (size_t i = 0; i < n_routes; i++)
		if (routes[i].kind == RK_API)
			build_sql(&routes[i], route_sql_text[i], sizeof(route_sql_text[i]));
}
