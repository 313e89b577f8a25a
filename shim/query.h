/*
 * query.h: a request's query string, checked against its route: known
 * parameters only, each at most once, percent-encoded UTF-8 of the
 * declared syntax.
 */
#ifndef NILUS_QUERY_H
#define NILUS_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "response.h"
#include "routes.h"

/*
 * Decodes the raw query string (what follows '?', still percent-encoded;
 * NULL = none) into values, in the order of the route's query parameters
 * (NULL = not given; the caller frees them, also on failure).  False with
 * the refusal filled when one does not fit.
 */
bool		query_scan(const char *query, const struct route *route,
					   char *values[MAX_QUERY_PARAMS], struct refusal *refusal);

/*
 * The raw query string as the access log shows it, into out: parameters
 * the route declares as sent; of any other, the value (a client's ?token=
 * or ?api_key= included), or a bare word whole, as REDACTED, since a secret
 * may hide there.  route NULL: no route matched.
 */
void		query_for_log(const char *query, const struct route *route, char *out, size_t size);

#endif
