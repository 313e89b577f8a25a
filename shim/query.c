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

static enum MHD_Result
unknown_param(struct query_scan *scan, const char *name)
{
	char		allowed[200];

	describe_allowed(scan->route, name, allowed, sizeof(allowed));
	refuse(scan->refusal, 400, NULL, name, "unknown query parameter %.100s%s", name, allowed);
	return MHD_NO;
}

static enum MHD_Result
take_value(struct query_scan *scan, const struct param *param, size_t index,
		   const char *value, size_t value_size)
{
	char	   *decoded;
	const char *reason;

	if (scan->values[index])
	{
		refuse(scan->refusal, 400, NULL, param->name, "%s is given more than once", param->name);
		return MHD_NO;
	}
	decoded = percent_decode(value ? value : "", value_size, true);
	if (!decoded)
	{
		refuse(scan->refusal, 400, NULL, param->name, "%s is not valid percent-encoded UTF-8",
			   param->name);
		return MHD_NO;
	}
	scan->values[index] = decoded;
	reason = value_syntax_check(param->type, decoded);
	if (reason)
	{
		refuse(scan->refusal, 400, NULL, param->name, "%s %s", param->name, reason);
		return MHD_NO;
	}
	return MHD_YES;
}

static enum MHD_Result
on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
			 const char *value, size_t value_size)
{
	struct query_scan *scan = cls;
	const struct param *param;
	char	   *name;
	size_t		index;
	enum MHD_Result result;

	(void) kind;
	if (key_size == 0 && value_size == 0)
		return MHD_YES;			/* "a=1&&b=2" */
	name = percent_decode(key, key_size, true);
	if (!name)
	{
		refuse(scan->refusal, 400, NULL, NULL,
			   "a query parameter name is not valid percent-encoded UTF-8");
		return MHD_NO;
	}
	param = route_query_param(scan->route, name, &index);
	result = param ? take_value(scan, param, index, value, value_size)
		: unknown_param(scan, name);
	free(name);
	return result;
}

bool
query_scan(struct MHD_Connection *connection, const struct route *route,
		   char *values[MAX_QUERY_PARAMS], struct refusal *refusal)
{
	struct query_scan scan = {.route = route, .values = values, .refusal = refusal};

	refusal->status = 0;
	MHD_get_connection_values_n(connection, MHD_GET_ARGUMENT_KIND, on_query_arg, &scan);
	return refusal->status == 0;
}

static enum MHD_Result
add_length(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
		   const char *value, size_t value_size)
{
	(void) kind, (void) key, (void) value;
	*(size_t *) cls += key_size + value_size + 2;
	return MHD_YES;
}

size_t
query_uri_length(struct MHD_Connection *connection, const char *url)
{
	size_t		len = strlen(url);

	MHD_get_connection_values_n(connection, MHD_GET_ARGUMENT_KIND, add_length, &len);
	return len;
}
