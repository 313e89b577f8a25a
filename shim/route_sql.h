/*
 * route_sql.h: the SQL each API route prepares, derived from its row:
 * SELECT nilus.<function>("tenant" => $1::text, ..., "body" => $n::jsonb).
 */
#ifndef NILUS_ROUTE_SQL_H
#define NILUS_ROUTE_SQL_H

#include "routes.h"

/* Builds every route's text; call once, before any connection prepares one. */
void		route_sql_init(void);

/* The SQL text of the route's prepared statement. */
const char *route_sql(const struct route *route);

#endif
