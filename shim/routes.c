/*
 * routes.c: THE route table, and what is derived from it: matching, the
 * check of each query value's syntax, the prepared SQL of each route.
 * Ranges and meaning are the SQL functions' business, not the shim's.
 */
#include "routes.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
static char route_sql_text[MAX_ROUTES][512];

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

/* ---- percent-decoding ---- */

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char) tolower((unsigned char) c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Strict UTF-8 (no overlongs, no surrogates) and no NUL, which text cannot hold. */
static bool
utf8_valid(const unsigned char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = s[i];
		size_t		n;
		unsigned int cp;

		if (c == 0)
			return false;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0)
			n = 1, cp = c & 0x1F;
		else if ((c & 0xF0) == 0xE0)
			n = 2, cp = c & 0x0F;
		else if ((c & 0xF8) == 0xF0)
			n = 3, cp = c & 0x07;
		else
			return false;
		for (size_t k = 1; k <= n; k++)
		{
			if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
			cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

char *
percent_decode(const char *raw, size_t len, bool form)
{
	char	   *out = malloc(len + 1);
	size_t		n = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++)
	{
		if (raw[i] == '%')
		{
			int			hi = i + 2 < len ? hex_value(raw[i + 1]) : -1;
			int			lo = i + 2 < len ? hex_value(raw[i + 2]) : -1;

			if (hi < 0 || lo < 0)
			{
				free(out);
				return NULL;
			}
			out[n++] = (char) (hi * 16 + lo);
			i += 2;
		}
		else
			out[n++] = (form && raw[i] == '+') ? ' ' : raw[i];
	}
	out[n] = '\0';
	if (!utf8_valid((const unsigned char *) out, n))
	{
		free(out);
		return NULL;
	}
	return out;
}

/* ---- matching ---- */

/* The next segment of a path or pattern starting at *p (which points at a '/'). */
static bool
next_segment(const char **p, const char **seg, size_t *len)
{
	if (**p != '/')
		return false;
	*seg = *p + 1;
	*len = strcspn(*seg, "/");
	*p = *seg + *len;
	return true;
}

/* Matches path against pattern; raw placeholder segments go to values. */
static bool
pattern_fits(const char *pattern, const char *path, const char **values, size_t *lens)
{
	size_t		nvalues = 0;

	while (*pattern || *path)
	{
		const char *pseg, *rseg;
		size_t		plen, rlen;

		if (!next_segment(&pattern, &pseg, &plen) || !next_segment(&path, &rseg, &rlen))
			return false;
		if (plen > 0 && pseg[0] == '{')
		{
			if (rlen == 0)
				return false;
			values[nvalues] = rseg;
			lens[nvalues++] = rlen;
		}
		else if (plen != rlen || memcmp(pseg, rseg, plen) != 0)
			return false;
	}
	return true;
}

static bool
method_serves(const struct route *route, const char *method)
{
	return strcmp(route->method, method) == 0 ||
		(strcmp(method, "HEAD") == 0 && strcmp(route->method, "GET") == 0);
}

static void
allow_add(char *allow, size_t size, const char *method)
{
	size_t		used = strlen(allow);

	snprintf(allow + used, size - used, "%s%s", used ? ", " : "", method);
	if (strcmp(method, "GET") == 0)
		allow_add(allow, size, "HEAD");
}

static enum route_match
decode_values(struct match *match, const char **values, const size_t *lens)
{
	size_t		n = route_path_param_count(match->route);

	for (size_t i = 0; i < n; i++)
	{
		match->path_values[i] = percent_decode(values[i], lens[i], false);
		if (!match->path_values[i])
			return ROUTE_MATCH_BAD_ESCAPE;
	}
	return ROUTE_MATCH_OK;
}

enum route_match
route_find(const char *method, const char *path, struct match *match)
{
	const char *values[MAX_PATH_PARAMS + 1];
	size_t		lens[MAX_PATH_PARAMS + 1];
	bool		path_known = false;

	memset(match, 0, sizeof(*match));
	for (size_t i = 0; i < n_routes; i++)
	{
		if (!pattern_fits(routes[i].pattern, path, values, lens))
			continue;
		if (!path_known)
			match->slot = route_pattern_slot(&routes[i]);
		path_known = true;
		if (method_serves(&routes[i], method))
		{
			match->route = &routes[i];
			return decode_values(match, values, lens);
		}
		allow_add(match->allow, sizeof(match->allow), routes[i].method);
	}
	return path_known ? ROUTE_MATCH_METHOD : ROUTE_MATCH_NONE;
}

void
match_release(struct match *match)
{
	for (size_t i = 0; i < MAX_PATH_PARAMS; i++)
	{
		free(match->path_values[i]);
		match->path_values[i] = NULL;
	}
}

/* ---- value syntax ---- */

/* Consumes exactly n digits; -1 when they are not there. */
static int
digits(const char **s, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++, (*s)++)
	{
		if (!isdigit((unsigned char) **s))
			return -1;
		v = v * 10 + (**s - '0');
	}
	return v;
}

static int
days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool		leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return days[month - 1] + (month == 2 && leap);
}

static bool
date_part(const char **s)
{
	int			y = digits(s, 4);
	int			m = (**s == '-') ? ((*s)++, digits(s, 2)) : -1;
	int			d = (**s == '-') ? ((*s)++, digits(s, 2)) : -1;

	return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

static bool
time_part(const char **s)
{
	int			h = digits(s, 2);
	int			mi = (**s == ':') ? ((*s)++, digits(s, 2)) : -1;
	int			sec;

	if (h < 0 || h > 23 || mi < 0 || mi > 59)
		return false;
	if (**s != ':')
		return true;
	(*s)++;
	sec = digits(s, 2);
	if (sec < 0 || sec > 60)
		return false;
	if (**s == '.')
	{
		(*s)++;
		if (!isdigit((unsigned char) **s))
			return false;
		while (isdigit((unsigned char) **s))
			(*s)++;
	}
	return true;
}

/* Z, or +HH[:MM] / -HH[:MM]; a space stands for '+' (form-decoded) and is put back. */
static bool
offset_part(char *s)
{
	const char *p = s + 1;
	int			h, m = 0;

	if (*s == '\0')
		return true;
	if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
		return true;
	if (*s != '+' && *s != '-' && *s != ' ')
		return false;
	h = digits(&p, 2);
	if (*p == ':')
		p++;
	if (*p != '\0')
		m = digits(&p, 2);
	if (h < 0 || h > 15 || m < 0 || m > 59 || *p != '\0')
		return false;
	if (*s == ' ')
		*s = '+';
	return true;
}

static bool
timestamp_syntax(char *value)
{
	const char *s = value;

	if (!date_part(&s))
		return false;
	if (*s == '\0')
		return true;
	if (*s != 'T' && *s != 't' && *s != ' ')
		return false;
	s++;
	if (!time_part(&s))
		return false;
	return offset_part(value + (s - value));
}

static bool
integer_syntax(const char *value, bool *in_range)
{
	const char *s = value + (value[0] == '-' || value[0] == '+');
	long long	v;

	*in_range = true;
	if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
		return false;
	errno = 0;
	v = strtoll(value, NULL, 10);
	*in_range = errno == 0 && v >= INT_MIN && v <= INT_MAX;
	return true;
}

static bool
period_syntax(const char *value)
{
	size_t		n = strspn(value, "0123456789");

	return n > 0 && n <= 9 && strchr("mhdw", value[n]) && value[n] != '\0' && value[n + 1] == '\0';
}

const char *
param_check(const struct param *param, char *value)
{
	bool		in_range;

	switch (param->type)
	{
		case PT_TEXT:
			return NULL;
		case PT_BOOLEAN:
			return strcasecmp(value, "true") == 0 || strcasecmp(value, "false") == 0
				? NULL : "must be true or false";
		case PT_INTEGER:
			if (!integer_syntax(value, &in_range))
				return "must be an integer";
			return in_range ? NULL : "is out of range for an integer";
		case PT_TIMESTAMPTZ:
			return timestamp_syntax(value) ? NULL
				: "must be an RFC 3339 timestamp such as 2026-11-28T10:15:00Z";
		case PT_DAY_OR_TIMESTAMP:
			return timestamp_syntax(value) ? NULL
				: "must be a day YYYY-MM-DD or an RFC 3339 timestamp such as 2026-11-28T10:15:00Z";
		case PT_PERIOD:
			return period_syntax(value) ? NULL
				: "must be a number followed by m, h, d or w, such as 24h or 7d";
	}
	return "has an unknown type";
}

/* ---- SQL ---- */

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
routes_init(void)
{
	assign_slots();
	for (size_t i = 0; i < n_routes; i++)
		if (routes[i].kind == RK_API)
			build_sql(&routes[i], route_sql_text[i], sizeof(route_sql_text[i]));
}
