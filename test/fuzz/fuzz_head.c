/*
 * fuzz_head.c: libFuzzer target over what the shim makes of a request
 * head before the database: route matching with percent-decoding of the
 * path, the query string against the route (value syntax included) and
 * the bearer token's syntax.  Input: three lines, the method, the request
 * target (path?query) and the token.  `make -C shim fuzz` runs it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "percent.h"
#include "query.h"
#include "route_match.h"
#include "routes.h"
#include "value_syntax.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc, (void) argv;
	routes_init();
	return 0;
}

/* The next line of *rest (NUL-terminated in place), "" when none is left. */
static char *
next_line(char **rest)
{
	char	   *line = *rest;
	char	   *end = strchr(line, '\n');

	if (end)
	{
		*end = '\0';
		*rest = end + 1;
	}
	else
		*rest = line + strlen(line);
	return line;
}

/* Without a route every value is REDACTED (or cut short by the buffer's end). */
static bool
all_redacted(const char *logged)
{
	for (const char *eq = strchr(logged, '='); eq; eq = strchr(eq + 1, '='))
	{
		size_t		len = strlen(eq);

		if (strncmp(eq, "=REDACTED", len < 9 ? len : 9) != 0)
			return false;
	}
	return true;
}

static void
scan_query(const struct route *route, const char *query)
{
	char	   *values[MAX_QUERY_PARAMS] = {0};
	struct refusal refusal;
	char		logged[64];		/* small: truncation is exercised too */

	query_scan(query, route, values, &refusal);
	for (size_t i = 0; i < MAX_QUERY_PARAMS; i++)
		free(values[i]);
	for (int matched = 0; matched < 2; matched++)
	{
		query_for_log(query, matched ? route : NULL, logged, sizeof(logged));
		if (strlen(logged) >= sizeof(logged) || (!matched && !all_redacted(logged)))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text = malloc(size + 1);
	char	   *rest = text;
	char	   *method, *target, *token, *query, *decoded;
	struct match match;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	method = next_line(&rest);
	target = next_line(&rest);
	token = next_line(&rest);
	query = strchr(target, '?');
	if (query)
		*query++ = '\0';
	if (route_find(method, target, &match) == ROUTE_MATCH_OK && match.route->kind == RK_API)
		scan_query(match.route, query);
	match_release(&match);
	decoded = percent_decode(target, strlen(target), false);
	free(decoded);
	bearer_token_syntax(token);
	free(text);
	return 0;
}
