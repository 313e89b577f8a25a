/*
 * route_match.c: matching a request against the route table.  A path that
 * fits a pattern but not the method still names its pattern (for 405 and
 * the metrics' route label) and collects the methods that would fit.
 */
#include "route_match.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "percent.h"

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
