/*
 * query.c: the query string against the route's declared parameters; see
 * query.h.  An unknown parameter's error lists the ones the route takes, or
 * the current name of a retired one.
 */
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "percent.h"
#include "value_syntax.h"

struct query_scan
{
	const struct route *route;
	char	  **values;
	struct refusal *refusal;	/* its status stays 0 while every argument fits */
};

static void
describe_allowed(const struct route *route, const char *name, char *buf, size_t size)
{
	const char *successor = param_successor(name);
	size_t		dummy;

	if (successor && route_query_param(route, successor, &dummy))
	{
		snprintf(buf, size, "; it is now called %s", successor);
		return;
	}
	snprintf(buf, size, "; this route takes %s", route->query ? "" : "no query parameters");
	for (size_t i = 0; route->query && route->query[i]; i++)
		snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? ", " : "",
				 route->query[i]->name);
}

static bool
unknown_param(struct query_scan *scan, const char *name)
{
	char		allowed[200];

	describe_allowed(scan->route, name, allowed, sizeof(allowed));
	return refuse(scan->refusal, 400, NULL, name, "unknown query parameter %.100s%s", name,
				  allowed);
}

static bool
take_value(struct query_scan *scan, const struct param *param, size_t index,
		   const char *value, size_t value_size)
{
	char	   *decoded;
	const char *reason;

	if (scan->values[index])
		return refuse(scan->refusal, 400, NULL, param->name, "%s is given more than once",
					  param->name);
	decoded = percent_decode(value ? value : "", value_size, true);
	if (!decoded)
		return refuse(scan->refusal, 400, NULL, param->name,
					  "%s is not valid percent-encoded UTF-8", param->name);
	scan->values[index] = decoded;
	reason = value_syntax_check(param->type, decoded);
	if (reason)
		return refuse(scan->refusal, 400, NULL, param->name, "%s %s", param->name, reason);
	return true;
}

static bool
take_arg(struct query_scan *scan, const char *key, size_t key_size, const char *value,
		 size_t value_size)
{
	const struct param *param;
	char	   *name;
	size_t		index;
	bool		fits;

	if (key_size == 0 && value_size == 0)
		return true;			/* "a=1&&b=2" */
	name = percent_decode(key, key_size, true);
	if (!name)
		return refuse(scan->refusal, 400, NULL, NULL,
					  "a query parameter name is not valid percent-encoded UTF-8");
	param = route_query_param(scan->route, name, &index);
	fits = param ? take_value(scan, param, index, value, value_size)
		: unknown_param(scan, name);
	free(name);
	return fits;
}

/* Whether the raw name is one the route declares, or the retired name of one. */
static bool
declared(const struct route *route, const char *key, size_t key_size)
{
	char	   *name = route ? percent_decode(key, key_size, true) : NULL;
	const char *successor = name ? param_successor(name) : NULL;
	size_t		index;
	bool		found = name && (route_query_param(route, name, &index) ||
								 (successor && route_query_param(route, successor, &index)));

	free(name);
	return found;
}

void
query_for_log(const char *query, const struct route *route, char *out, size_t size)
{
	size_t		used = 0;

	out[0] = '\0';
	while (query && *query && used < size)
	{
		size_t		len = strcspn(query, "&");
		const char *equals = memchr(query, '=', len);
		size_t		key_size = equals ? (size_t) (equals - query) : len;
		const char *separator = query[len] == '&' ? "&" : "";
		int			n = len == 0 || declared(route, query, key_size)
			? snprintf(out + used, size - used, "%.*s%s", (int) len, query, separator)
			: snprintf(out + used, size - used, "%.*s%sREDACTED%s", (int) (equals ? key_size : 0),
					   query, equals ? "=" : "", separator);

		used += n > 0 ? (size_t) n : size;
		query += len + (query[len] == '&');
	}
}

bool
query_scan(const char *query, const struct route *route, char *values[MAX_QUERY_PARAMS],
		   struct refusal *refusal)
{
	struct query_scan scan = {.route = route, .values = values, .refusal = refusal};

	refusal->status = 0;
	while (query && *query)
	{
		size_t		len = strcspn(query, "&");
		const char *equals = memchr(query, '=', len);
		size_t		key_size = equals ? (size_t) (equals - query) : len;

		if (!take_arg(&scan, query, key_size, equals ? equals + 1 : NULL,
					  equals ? len - key_size - 1 : 0))
			return false;
		query += len + (query[len] == '&');
	}
	return true;
}
