/*
 * db.h: the shim's PostgreSQL side.  A pool of connections, statements
 * prepared once per connection, and each request sent as one pipeline
 * (authenticate + the route's function) = one round trip.
 */
#ifndef NILUS_DB_H
#define NILUS_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "routes.h"

/* A function's JSON answer or an error body. */
struct db_answer
{
	int			status;
	const char *body;
	size_t		len;
	PGresult   *result;			/* owns body when set (PQclear it), else body is malloc'd */
};

/* size: connections in the pool, i.e. requests executed at once. */
bool		db_init(const char *dsn, unsigned int size);
void		db_shutdown(void);

/* values: the route's bound parameters in order (path, query, body); NULL = not given. */
void		db_call(const struct route *route, const char *token, const char *const *values,
					int nvalues, struct db_answer *answer);
void		db_answer_release(struct db_answer *answer);

/* Readiness: the database answers and has the extension at the shim's version. */
bool		db_ready(char *why, size_t size);

void		db_pool_counts(unsigned int *in_use, unsigned int *idle);

#endif
