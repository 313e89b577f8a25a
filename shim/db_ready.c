/*
 * db_ready.c: the readiness check; see db_ready.h.  It runs on the metrics
 * listener's thread, beside the pool's loop, and shares nothing with it but
 * the DSN.
 */
#include "db_ready.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "db_conn.h"

static PGconn *ready_conn;		/* only the metrics listener's single thread uses it */

/* A query on the check's connection, opened again if needed; NULL when the connection failed. */
static PGresult *
ready_exec(const char *sql)
{
	if (!ready_conn || PQstatus(ready_conn) != CONNECTION_OK)
	{
		PQfinish(ready_conn);
		ready_conn = db_conn_open(false);
		/* The request timeout bounds the check too: a hung server makes it fail, not hang. */
		if (PQstatus(ready_conn) == CONNECTION_OK)
			PQclear(PQexec(ready_conn, db_conn_setup_sql()));
	}
	if (PQstatus(ready_conn) != CONNECTION_OK)
		return NULL;
	return PQexec(ready_conn, sql);
}

static PGresult *
ready_query(void)
{
	return ready_exec("SELECT extversion FROM pg_extension WHERE extname = 'nilus'");
}

bool
db_ready(char *why, size_t size)
{
	PGresult   *res = ready_query();
	bool		ok = false;

	/* A connection the server closed since the last check is opened again once. */
	if (PQstatus(ready_conn) != CONNECTION_OK)
	{
		PQclear(res);
		res = ready_query();
	}
	if (!res || PQstatus(ready_conn) != CONNECTION_OK)
		snprintf(why, size, "database unreachable: %.*s", (int) strcspn(PQerrorMessage(ready_conn), "\n"),
				 PQerrorMessage(ready_conn));
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		snprintf(why, size, "database error %s", PQresultErrorField(res, PG_DIAG_SQLSTATE) ?
				 PQresultErrorField(res, PG_DIAG_SQLSTATE) : "(connection)");
	else if (PQntuples(res) == 0)
		snprintf(why, size, "extension nilus is not installed");
	else if (strcmp(PQgetvalue(res, 0, 0), NILUS_VERSION) != 0)
		snprintf(why, size, "extension nilus is at version %s, this shim needs %s",
				 PQgetvalue(res, 0, 0), NILUS_VERSION);
	else
		ok = true;
	PQclear(res);
	return ok;
}

void
db_ready_close(void)
{
	PQfinish(ready_conn);
	ready_conn = NULL;
}

PGresult *
db_ready_retention_metrics(void)
{
	PGresult   *res = ready_exec("SELECT kind, rows_removed_total, last_rows_removed, "
								 "extract(epoch FROM last_pruned_at), interval_seconds "
								 "FROM nilus.retention_metrics()");

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	PQclear(res);
	return NULL;
}
