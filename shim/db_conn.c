/*
 * db_conn.c: a pool connection's life.  Connections are opened
 * asynchronously, driven by the event loop; one that cannot connect is
 * closed and given a short back-off, so that while the database cannot be
 * reached every request does not pay for a connect attempt, and an outage
 * is logged once, not per request.
 */
#include "db_conn.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "metrics.h"

#define RECONNECT_BACKOFF 0.25	/* seconds between connect attempts of a slot */

static char *dsn;
static char setup_sql[160];
static atomic_uint busy_count, idle_count;	/* for the gauge, read by the metrics thread */

/*
 * Timestamps without an offset are UTC.  The statement_timeout is the
 * request timeout: the server ends a call the shim has given up on even
 * when the shim's cancel does not reach it (see flight_expire).
 */
bool
db_conn_init(const char *conninfo, double statement_timeout)
{
	snprintf(setup_sql, sizeof(setup_sql),
			 "SELECT pg_catalog.set_config('TimeZone', 'UTC', false), "
			 "pg_catalog.set_config('statement_timeout', '%.0f', false)", statement_timeout * 1000);
	dsn = strdup(conninfo ? conninfo : "");
	return dsn != NULL;
}

const char *
db_conn_setup_sql(void)
{
	return setup_sql;
}

void
db_conn_free(void)
{
	free(dsn);
	dsn = NULL;
}

PGconn *
db_conn_open(bool nonblocking)
{
	/* Ours first, the DSN last: what the operator wrote wins. */
	static const char *const keys[] = {
		"fallback_application_name", "connect_timeout", "client_encoding",
		"keepalives_idle", "keepalives_interval", "keepalives_count", "dbname", NULL
	};
	const char *const values[] = {"nilus-manager", "5", "UTF8", "30", "10", "3", dsn, NULL};

	return nonblocking ? PQconnectStartParams(keys, values, 1) : PQconnectdbParams(keys, values, 1);
}

void
slot_init(struct slot *s, void (*on_event) (struct watcher *w, uint32_t events))
{
	memset(s, 0, sizeof(*s));
	s->watcher.on_event = on_event;
	s->fd = -1;
}

static atomic_uint *
state_counter(enum slot_state state)
{
	return state == SLOT_BUSY ? &busy_count : state == SLOT_IDLE ? &idle_count : NULL;
}

void
slot_set_state(struct slot *s, enum slot_state state)
{
	atomic_uint *old = state_counter(s->state);
	atomic_uint *new = state_counter(state);

	if (old)
		atomic_fetch_sub(old, 1);
	if (new)
		atomic_fetch_add(new, 1);
	s->state = state;
}

unsigned int
slots_busy(void)
{
	return atomic_load(&busy_count);
}

unsigned int
slots_idle(void)
{
	return atomic_load(&idle_count);
}

void
slot_watch(struct slot *s, uint32_t events)
{
	int			fd = PQsocket(s->conn);

	if (fd == s->fd && events == s->events)
		return;
	s->events = events;
	if (fd == s->fd && loop_modify(&s->watcher, fd, events))
		return;
	if (s->fd >= 0)
		loop_unwatch(s->fd);
	s->fd = fd >= 0 && loop_watch(&s->watcher, fd, events) ? fd : -1;
}

void
slot_close(struct slot *s)
{
	if (s->fd >= 0)
		loop_unwatch(s->fd);
	s->fd = -1;
	s->events = 0;
	PQfinish(s->conn);
	s->conn = NULL;
	slot_set_state(s, SLOT_DOWN);
}

static void
report_down(struct slot *s, const char *why)
{
	size_t		len = strcspn(why, "\n");

	metrics_db_error(DB_ERROR_CONNECT);
	if (!s->reported_down)
		fprintf(stderr, "nilus-manager: database unavailable: %.*s\n", (int) len, why);
	s->reported_down = true;
	s->retry_at = monotonic_seconds() + RECONNECT_BACKOFF;
	slot_close(s);
}

static void
connected(struct slot *s)
{
	if (PQsetnonblocking(s->conn, 1) != 0 || !PQenterPipelineMode(s->conn))
	{
		report_down(s, PQerrorMessage(s->conn));
		return;
	}
	s->set_up = s->auth_prepared = s->inflated = false;
	memset(s->prepared, 0, sizeof(s->prepared));
	if (s->was_up)
		metrics_db_reconnect();
	if (s->reported_down)
		fprintf(stderr, "nilus-manager: database connection restored\n");
	s->was_up = true;
	s->reported_down = false;
	slot_set_state(s, SLOT_IDLE);
	slot_watch(s, EPOLLIN);
}

void
slot_connect_step(struct slot *s)
{
	PostgresPollingStatusType status = PQconnectPoll(s->conn);

	/* libpq may have closed the socket and opened another under the same number. */
	if (s->fd >= 0)
		loop_unwatch(s->fd);
	s->fd = -1;
	switch (status)
	{
		case PGRES_POLLING_READING:
			slot_watch(s, EPOLLIN);
			break;
		case PGRES_POLLING_WRITING:
			slot_watch(s, EPOLLOUT);
			break;
		case PGRES_POLLING_OK:
			connected(s);
			break;
		default:
			report_down(s, PQerrorMessage(s->conn));
			break;
	}
}

void
slot_connect_start(struct slot *s)
{
	s->conn = db_conn_open(true);
	if (!s->conn || PQstatus(s->conn) == CONNECTION_BAD)
	{
		report_down(s, s->conn ? PQerrorMessage(s->conn) : "out of memory");
		return;
	}
	slot_set_state(s, SLOT_CONNECTING);
	/* Before the first PQconnectPoll the socket is waited on as if it had said WRITING. */
	slot_watch(s, EPOLLOUT);
	if (s->fd < 0)
		report_down(s, "cannot watch the connection's socket");
}
