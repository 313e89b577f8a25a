/*
 * route_match.h: which row of the route table a request's method and path
 * select, with its path parameters decoded.
 */
#ifndef NILUS_ROUTE_MATCH_H
#define NILUS_ROUTE_MATCH_H

#include "routes.h"

/*
 * The path is the raw (still percent-encoded) request path.
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

#endif
