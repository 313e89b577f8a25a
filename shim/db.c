/*
 * db.c: the connection pool, prepared statements and the one-round-trip
 * pipeline.
 *
 * A request takes a free slot (a connection with its prepared statements)
 * for the time of its round trip, so any connection serves any HTTP
 * connection and a slow request holds up nobody but its own client.  A slot
 * whose connection broke reconnects on its next use; until the database
 * answers again, requests get 503 at once (a short back-off keeps them from
 * each waiting for a connect attempt).
 */
#include "db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "metrics.h"

#define AUTH_STATEMENT "nilus_auth"
#define AUTH_SQL "SELECT nilus.authenticate($1::text)"
#define RECONNECT_BACKOFF 0.25	/* seconds between connect attempts of a slot */
#define ATTEMPTS 3				/* a serialization failure or a lost idle connection is retried */
#define POOL_WAIT 10			/* seconds a request waits for a free connection before 503 */

struct slot
{
	PGconn	   *conn;
	bool		pipeline;		/* API slots stay in pipeline mode */
	bool		auth_prepared;
	bool		prepared[MAX_ROUTES];
	bool		was_up;			/* so the next connection counts as a reconnect */
	bool		reported_down;	/* one log line per outage, not per request */
	double		retry_at;
	double		backoff;
	bool		taken;			/* under pool_lock */
	atomic_bool connected;		/* for the gauges, read without the owner's help */
};

static char *dsn;
static struct slot *slots;
static unsigned int n_slots;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_free;
static struct slot ready_slot;	/* only the metrics listener's single thread uses it */

bool
db_init(const char *conninfo, unsigned int size)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pool_free, &attr);
	pthread_condattr_destroy(&attr);
	dsn = strdup(conninfo ? conninfo : "");
	slots = calloc(size, sizeof(*slots));
	if (!dsn || !slots)
		return false;
	n_slots = size;
	for (unsigned int i = 0; i < size; i++)
	{
		slots[i].pipeline = true;
		slots[i].backoff = RECONNECT_BACKOFF;
	}
	return true;
}

static void
slot_close(struct slot *s)
{
	PQfinish(s->conn);
	s->conn = NULL;
	atomic_store(&s->connected, false);
}

void
db_shutdown(void)
{
	for (unsigned int i = 0; i < n_slots; i++)
		slot_close(&slots[i]);
	slot_close(&ready_slot);
	free(slots);
	free(dsn);
	slots = NULL;
	n_slots = 0;
	pthread_cond_destroy(&pool_free);
}

static void
report_down(struct slot *s, const char *why)
{
	size_t		len = strcspn(why, "\n");

	metrics_db_error(DB_ERROR_CONNECT);
	if (!s->reported_down)
		fprintf(stderr, "nilus-manager: database unavailable: %.*s\n", (int) len, why);
	s->reported_down = true;
	s->retry_at = monotonic_seconds() + s->backoff;
	slot_close(s);
}

/* Session settings every statement relies on: timestamps without an offset are UTC. */
static bool
slot_setup(struct slot *s)
{
	PGresult   *res = PQexec(s->conn, "SET TimeZone TO 'UTC'");
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	PQclear(res);
	return ok && (!s->pipeline || PQenterPipelineMode(s->conn));
}

static bool
slot_open(struct slot *s)
{
	/* Ours first, the DSN last: what the operator wrote wins. */
	static const char *const keys[] = {
		"fallback_application_name", "connect_timeout", "client_encoding",
		"keepalives_idle", "keepalives_interval", "keepalives_count", "dbname", NULL
	};
	const char *const values[] = {"nilus-manager", "5", "UTF8", "30", "10", "3", dsn, NULL};

	if (monotonic_seconds() < s->retry_at)
		return false;
	s->conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(s->conn) != CONNECTION_OK || !slot_setup(s))
	{
		report_down(s, s->conn ? PQerrorMessage(s->conn) : "out of memory");
		return false;
	}
	s->auth_prepared = false;
	memset(s->prepared, 0, sizeof(s->prepared));
	if (s->was_up)
		metrics_db_reconnect();
	if (s->reported_down)
		fprintf(stderr, "nilus-manager: database connection restored\n");
	s->was_up = true;
	s->reported_down = false;
	atomic_store(&s->connected, true);
	return true;
}

/*
 * An idle connection has nothing to say; if its socket is readable the
 * server is closing it (restart, terminated backend).  Replacing it before
 * use keeps a database restart from costing a request its answer.
 */
static bool
slot_usable(struct slot *s)
{
	struct pollfd pfd;

	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK)
		return false;
	pfd.fd = PQsocket(s->conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) == 0;
}

static bool
slot_ready(struct slot *s)
{
	if (slot_usable(s))
		return true;
	if (s->conn)
		slot_close(s);
	return slot_open(s);
}

/* A free slot, connected ones first; NULL when none frees up within POOL_WAIT. */
static struct slot *
slot_take(void)
{
	struct timespec deadline;
	struct slot *found = NULL;
	int			rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += POOL_WAIT;
	pthread_mutex_lock(&pool_lock);
	while (!found && rc != ETIMEDOUT)
	{
		for (unsigned int i = 0; i < n_slots; i++)
			if (!slots[i].taken && (!found || (!found->conn && slots[i].conn)))
				found = &slots[i];
		if (!found)
			rc = pthread_cond_timedwait(&pool_free, &pool_lock, &deadline);
	}
	if (found)
		found->taken = true;
	pthread_mutex_unlock(&pool_lock);
	return found;
}

static void
slot_give_back(struct slot *s)
{
	pthread_mutex_lock(&pool_lock);
	s->taken = false;
	pthread_cond_signal(&pool_free);
	pthread_mutex_unlock(&pool_lock);
}

/* ---- the pipeline ---- */

struct outcome
{
	PGresult   *value;			/* the function's result */
	PGresult   *error;			/* the first error; the rest of the pipeline was skipped */
	bool		broken;			/* the connection failed or the protocol went astray */
};

static void
statement_name(const struct route *route, char *buf, size_t size)
{
	snprintf(buf, size, "nilus_r%zu", route_index(route));
}

static bool
send_pipeline(struct slot *s, const struct route *route, const char *token,
			  const char *const *values, int nvalues)
{
	char		name[32];

	statement_name(route, name, sizeof(name));
	if (!s->auth_prepared && !PQsendPrepare(s->conn, AUTH_STATEMENT, AUTH_SQL, 0, NULL))
		return false;
	if (!s->prepared[route_index(route)] &&
		!PQsendPrepare(s->conn, name, route_sql(route), 0, NULL))
		return false;
	return PQsendQueryPrepared(s->conn, AUTH_STATEMENT, 1, &token, NULL, NULL, 0) &&
		PQsendQueryPrepared(s->conn, name, nvalues, values, NULL, NULL, 0) &&
		PQpipelineSync(s->conn) && PQflush(s->conn) == 0;
}

/* Reads one command's results.  prepared: set when it is a PREPARE that succeeded. */
static void
read_command(struct slot *s, struct outcome *o, bool *prepared, bool is_call)
{
	PGresult   *res;

	while ((res = PQgetResult(s->conn)) != NULL)
	{
		ExecStatusType status = PQresultStatus(res);

		if (status == PGRES_COMMAND_OK && prepared)
			*prepared = true;
		if (status == PGRES_FATAL_ERROR && !o->error)
			o->error = res;
		else if (status == PGRES_TUPLES_OK && is_call && !o->value)
			o->value = res;
		else
			PQclear(res);
	}
	o->broken = o->broken || PQstatus(s->conn) != CONNECTION_OK;
}

/* The Sync's answer means the implicit transaction has committed (or rolled back). */
static void
read_sync(struct slot *s, struct outcome *o)
{
	for (int nulls = 0; nulls < 2 && !o->broken;)
	{
		PGresult   *res = PQgetResult(s->conn);
		ExecStatusType status = PQresultStatus(res);

		if (!res)
			nulls++;
		else if (status == PGRES_FATAL_ERROR && !o->error)
			o->error = res, res = NULL;
		PQclear(res);
		if (status == PGRES_PIPELINE_SYNC)
			return;
		o->broken = PQstatus(s->conn) != CONNECTION_OK;
	}
	o->broken = true;
}

static void
read_pipeline(struct slot *s, const struct route *route, bool sent_auth_prepare,
			  bool sent_route_prepare, struct outcome *o)
{
	if (sent_auth_prepare)
		read_command(s, o, &s->auth_prepared, false);
	if (sent_route_prepare && !o->broken)
		read_command(s, o, &s->prepared[route_index(route)], false);
	if (!o->broken)
		read_command(s, o, NULL, false);
	if (!o->broken)
		read_command(s, o, NULL, true);
	if (!o->broken)
		read_sync(s, o);
}

static void
outcome_clear(struct outcome *o)
{
	PQclear(o->value);
	PQclear(o->error);
	memset(o, 0, sizeof(*o));
}

/* Runs the pipeline once on a usable slot; false when the connection broke. */
static bool
run_pipeline(struct slot *s, const struct route *route, const char *token,
			 const char *const *values, int nvalues, struct outcome *o)
{
	bool		auth_prepare = !s->auth_prepared;
	bool		route_prepare = !s->prepared[route_index(route)];
	double		start = monotonic_seconds();

	memset(o, 0, sizeof(*o));
	o->broken = !send_pipeline(s, route, token, values, nvalues);
	if (!o->broken)
		read_pipeline(s, route, auth_prepare, route_prepare, o);
	metrics_db_roundtrip(monotonic_seconds() - start);
	if (o->broken)
	{
		metrics_db_error(DB_ERROR_LOST);
		fprintf(stderr, "nilus-manager: database connection lost: %.*s\n",
				(int) strcspn(PQerrorMessage(s->conn), "\n"), PQerrorMessage(s->conn));
		outcome_clear(o);
		slot_close(s);
		return false;
	}
	return true;
}

/* ---- answers ---- */

static void
answer_error(struct db_answer *answer, int status, const char *message)
{
	size_t		len;

	answer->status = status;
	answer->body = error_body(status, NULL, message, NULL, &len);
	answer->len = len;
	answer->result = NULL;
}

static void
answer_from_value(const struct route *route, PGresult *value, struct db_answer *answer)
{
	if (PQntuples(value) != 1 || PQnfields(value) != 1 || PQgetisnull(value, 0, 0))
	{
		fprintf(stderr, "nilus-manager: %s: nilus.%s returned no JSON\n", route->pattern,
				route->function);
		PQclear(value);
		answer_error(answer, 500, "internal error");
		return;
	}
	answer->status = route->status;
	answer->body = PQgetvalue(value, 0, 0);
	answer->len = (size_t) PQgetlength(value, 0, 0);
	answer->result = value;
}

static void
answer_from_error(const struct route *route, PGresult *error, struct db_answer *answer)
{
	char	   *body;
	size_t		len;

	answer->status = error_from_result(error, route->pattern, &body, &len);
	answer->body = body;
	answer->len = len;
	answer->result = NULL;
	metrics_db_error(answer->status < 500 ? DB_ERROR_CLIENT : DB_ERROR_SERVER);
	PQclear(error);
}

/*
 * A GET may be sent again after the connection broke; a POST may not: it
 * may have committed before the break, and the client must decide.
 */
static bool
may_resend(const struct route *route)
{
	return strcmp(route->method, "GET") == 0;
}

/* One request on one slot: retries what may be retried, else answers. */
static void
call_on_slot(struct slot *s, const struct route *route, const char *token,
			 const char *const *values, int nvalues, struct db_answer *answer)
{
	struct outcome o;

	for (int attempt = 0; attempt < ATTEMPTS; attempt++)
	{
		const char *sqlstate;

		if (!slot_ready(s))
			break;
		if (!run_pipeline(s, route, token, values, nvalues, &o))
		{
			if (may_resend(route))
				continue;
			break;
		}
		sqlstate = o.error ? PQresultErrorField(o.error, PG_DIAG_SQLSTATE) : NULL;
		if (error_is_retryable(sqlstate))
		{
			outcome_clear(&o);
			continue;
		}
		if (error_is_unavailable(sqlstate))
			slot_close(s);
		if (o.error)
		{
			PQclear(o.value);
			answer_from_error(route, o.error, answer);
		}
		else
			answer_from_value(route, o.value, answer);
		return;
	}
	answer_error(answer, 503, "database unavailable");
}

void
db_call(const struct route *route, const char *token, const char *const *values, int nvalues,
		struct db_answer *answer)
{
	struct slot *s = slot_take();

	if (!s)
	{
		answer_error(answer, 503, "every database connection is busy; try again");
		return;
	}
	call_on_slot(s, route, token, values, nvalues, answer);
	slot_give_back(s);
}

void
db_answer_release(struct db_answer *answer)
{
	if (answer->result)
		PQclear(answer->result);
	else
		free((char *) answer->body);
	memset(answer, 0, sizeof(*answer));
}

/* ---- readiness and gauges ---- */

bool
db_ready(char *why, size_t size)
{
	PGresult   *res;
	bool		ok = false;

	if (!slot_ready(&ready_slot))
	{
		snprintf(why, size, "database unreachable");
		return false;
	}
	res = PQexec(ready_slot.conn, "SELECT extversion FROM pg_extension WHERE extname = 'nilus'");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
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
	if (PQstatus(ready_slot.conn) != CONNECTION_OK)
		slot_close(&ready_slot);
	return ok;
}

void
db_pool_counts(unsigned int *in_use, unsigned int *idle)
{
	*in_use = *idle = 0;
	pthread_mutex_lock(&pool_lock);
	for (unsigned int i = 0; i < n_slots; i++)
	{
		*in_use += slots[i].taken;
		*idle += !slots[i].taken && atomic_load(&slots[i].connected);
	}
	pthread_mutex_unlock(&pool_lock);
}
