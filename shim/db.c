/*
 * db.c: the connection pool and the one-round-trip pipeline.
 *
 * Every connection is non-blocking and watched by the event loop.  A job
 * sends its pipeline (authenticate + the route's function, with whatever
 * session setup or PREPARE the connection still lacks) and is answered when
 * the reply to the Sync that ends its transaction arrives; meanwhile the
 * loop serves everybody else.  A write's pipeline has a Sync of its own;
 * the reads given to a connection in one turn of the loop share one (see
 * may_share), which db_flush sends with them in one write.  A job takes an
 * idle connection, else joins the least loaded one, up to PIPELINE_DEPTH
 * pipelines on each: the backend finds the next request in its socket when
 * it finishes one, instead of sleeping until the shim has read the answer
 * and sent another.  The replies come in the order sent.  Jobs that find
 * every connection full wait in arrival order, at most POOL_WAIT seconds.
 * A connection that broke is opened again (asynchronously) when a job needs
 * it; while the database cannot be reached, jobs get 503 at once, and a
 * short back-off keeps every request from paying for a connect attempt.
 */
#include "db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "errors.h"
#include "loop.h"
#include "metrics.h"

#define SETUP_SQL "SET TimeZone TO 'UTC'"	/* timestamps without an offset are UTC */
#define AUTH_STATEMENT "nilus_auth"
#define AUTH_SQL "SELECT nilus.authenticate($1::text)"
#define RECONNECT_BACKOFF 0.25	/* seconds between connect attempts of a slot */
#define ATTEMPTS 3				/* a serialization failure or a lost connection is retried */
#define POOL_WAIT 10			/* seconds a job waits for a free connection before 503 */
#define MAX_COMMANDS 5
#define PIPELINE_DEPTH 4		/* pipelines in flight on one connection */
#define STALLED_AFTER 0.05		/* seconds a pipeline runs before none may join it */

enum slot_state
{
	SLOT_DOWN, SLOT_CONNECTING, SLOT_IDLE, SLOT_BUSY
};

/* What each command of a pipeline was, to know its result. */
enum command
{
	CMD_SETUP, CMD_PREPARE_AUTH, CMD_PREPARE_ROUTE, CMD_AUTH, CMD_CALL
};

struct outcome
{
	PGresult   *value;			/* the function's result */
	PGresult   *error;			/* the first error; the rest of the pipeline was skipped */
	bool		aborted;		/* skipped for an earlier read's error in its transaction */
};

/* One job's pipeline on a connection, from sending it to its Sync's reply. */
struct flight
{
	struct db_job *job;
	enum command commands[MAX_COMMANDS];
	int			ncommands;
	int			current;		/* index of the command whose results come next */
	bool		synced;			/* a Sync follows its commands: its transaction ends there */
	double		sent_at;
	struct outcome outcome;
};

struct slot
{
	struct watcher watcher;		/* first: the loop hands it back */
	PGconn	   *conn;
	int			fd;				/* watched descriptor, -1 = none */
	uint32_t	events;			/* what fd is watched for */
	enum slot_state state;
	bool		set_up;			/* SETUP_SQL has committed on this connection */
	bool		auth_prepared;
	bool		prepared[MAX_ROUTES];
	bool		was_up;			/* so the next connection counts as a reconnect */
	bool		reported_down;	/* one log line per outage, not per request */
	double		retry_at;
	/* the pipelines in flight, answered in the order sent: a ring */
	struct flight flights[PIPELINE_DEPTH];
	int			first;
	int			in_flight;
};

static char *dsn;
static struct slot *slots;
static unsigned int n_slots;
static unsigned int n_cores;
static struct db_job *waiting_head, *waiting_tail;
static atomic_uint busy_count, idle_count;	/* for the gauges, read by the metrics thread */
static PGconn *ready_conn;		/* only the metrics listener's single thread uses it */

static void on_slot_event(struct watcher *w, uint32_t events);
static void register_gauge(void);

bool
db_init(const char *conninfo, unsigned int size, unsigned int cores)
{
	dsn = strdup(conninfo ? conninfo : "");
	slots = calloc(size, sizeof(*slots));
	if (!dsn || !slots)
		return false;
	n_slots = size;
	n_cores = cores;
	for (unsigned int i = 0; i < size; i++)
	{
		slots[i].watcher.on_event = on_slot_event;
		slots[i].fd = -1;
	}
	register_gauge();
	return true;
}

/* ---- slot states ---- */

static atomic_uint *
state_counter(enum slot_state state)
{
	return state == SLOT_BUSY ? &busy_count : state == SLOT_IDLE ? &idle_count : NULL;
}

static void
set_state(struct slot *s, enum slot_state state)
{
	atomic_uint *old = state_counter(s->state);
	atomic_uint *new = state_counter(state);

	if (old)
		atomic_fetch_sub(old, 1);
	if (new)
		atomic_fetch_add(new, 1);
	s->state = state;
}

/* Watches the connection's socket for events; libpq may change socket while connecting. */
static void
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

static void
slot_close(struct slot *s)
{
	if (s->fd >= 0)
		loop_unwatch(s->fd);
	s->fd = -1;
	s->events = 0;
	PQfinish(s->conn);
	s->conn = NULL;
	set_state(s, SLOT_DOWN);
}

static void
outcome_clear(struct outcome *o)
{
	PQclear(o->value);
	PQclear(o->error);
	memset(o, 0, sizeof(*o));
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
	if (!value || PQntuples(value) != 1 || PQnfields(value) != 1 || PQgetisnull(value, 0, 0))
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

static void
complete_with_error(struct db_job *job, int status, const char *message)
{
	struct db_answer answer;

	answer_error(&answer, status, message);
	job->done(job, &answer);
}

/* ---- the waiting jobs ---- */

static void
push_back(struct db_job *job)
{
	job->next = NULL;
	if (waiting_tail)
		waiting_tail->next = job;
	else
		waiting_head = job;
	waiting_tail = job;
}

/* A job sent again goes first: it has waited already. */
static void
push_front(struct db_job *job)
{
	job->next = waiting_head;
	waiting_head = job;
	if (!waiting_tail)
		waiting_tail = job;
}

static struct db_job *
pop_front(void)
{
	struct db_job *job = waiting_head;

	if (job)
	{
		waiting_head = job->next;
		if (!waiting_head)
			waiting_tail = NULL;
		job->next = NULL;
	}
	return job;
}

static void
fail_waiting(int status, const char *message)
{
	struct db_job *job;

	while ((job = pop_front()) != NULL)
		complete_with_error(job, status, message);
}

/* ---- connecting ---- */

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

static PGconn *
connect_params(bool nonblocking)
{
	/* Ours first, the DSN last: what the operator wrote wins. */
	static const char *const keys[] = {
		"fallback_application_name", "connect_timeout", "client_encoding",
		"keepalives_idle", "keepalives_interval", "keepalives_count", "dbname", NULL
	};
	const char *const values[] = {"nilus-manager", "5", "UTF8", "30", "10", "3", dsn, NULL};

	return nonblocking ? PQconnectStartParams(keys, values, 1) : PQconnectdbParams(keys, values, 1);
}

static void
connected(struct slot *s)
{
	if (PQsetnonblocking(s->conn, 1) != 0 || !PQenterPipelineMode(s->conn))
	{
		report_down(s, PQerrorMessage(s->conn));
		return;
	}
	s->set_up = s->auth_prepared = false;
	memset(s->prepared, 0, sizeof(s->prepared));
	if (s->was_up)
		metrics_db_reconnect();
	if (s->reported_down)
		fprintf(stderr, "nilus-manager: database connection restored\n");
	s->was_up = true;
	s->reported_down = false;
	set_state(s, SLOT_IDLE);
	slot_watch(s, EPOLLIN);
}

/* One step of PQconnectPoll's state machine, when the socket is ready for it. */
static void
connect_step(struct slot *s)
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

static void
connect_start(struct slot *s)
{
	s->conn = connect_params(true);
	if (!s->conn || PQstatus(s->conn) == CONNECTION_BAD)
	{
		report_down(s, s->conn ? PQerrorMessage(s->conn) : "out of memory");
		return;
	}
	set_state(s, SLOT_CONNECTING);
	/* Before the first PQconnectPoll the socket is waited on as if it had said WRITING. */
	slot_watch(s, EPOLLOUT);
	if (s->fd < 0)
		report_down(s, "cannot watch the connection's socket");
}

/* ---- the pipeline ---- */

static void
statement_name(const struct route *route, char *buf, size_t size)
{
	snprintf(buf, size, "nilus_r%zu", route_index(route));
}

static bool
is_read(const struct db_job *job)
{
	return strcmp(job->route->method, "GET") == 0;
}

static struct flight *
flight_at(struct slot *s, int i)
{
	return &s->flights[(s->first + i) % PIPELINE_DEPTH];
}

static bool
send_command(struct flight *f, enum command command, bool sent)
{
	f->commands[f->ncommands++] = command;
	return sent;
}

static bool
send_pipeline(struct slot *s, struct flight *f)
{
	PGconn	   *c = s->conn;
	const struct db_job *job = f->job;
	size_t		index = route_index(job->route);
	char		name[32];

	statement_name(job->route, name, sizeof(name));
	if (!s->set_up && !send_command(f, CMD_SETUP, PQsendQueryParams(c, SETUP_SQL, 0, NULL, NULL,
																		NULL, NULL, 0)))
		return false;
	if (!s->auth_prepared && !send_command(f, CMD_PREPARE_AUTH,
										   PQsendPrepare(c, AUTH_STATEMENT, AUTH_SQL, 0, NULL)))
		return false;
	if (!s->prepared[index] && !send_command(f, CMD_PREPARE_ROUTE,
											 PQsendPrepare(c, name, route_sql(job->route), 0, NULL)))
		return false;
	return send_command(f, CMD_AUTH, PQsendQueryPrepared(c, AUTH_STATEMENT, 1, &job->token,
														 NULL, NULL, 0)) &&
		send_command(f, CMD_CALL, PQsendQueryPrepared(c, name, job->nvalues, job->values,
													  NULL, NULL, 0));
}

/*
 * Whether a job may share its transaction with the reads around it: reads
 * only read, and each statement takes its own snapshot, so a transaction
 * per read costs the backend a commit and a reply flush for nothing.  Not
 * a read whose transaction was lost to another read's error (it goes
 * alone, so it cannot be lost again), nor one that carries the session
 * setup, which the transaction's end must commit.
 */
static bool
may_share(const struct slot *s, const struct db_job *job)
{
	return is_read(job) && !job->alone && s->set_up;
}

/* Whether the newest flight's transaction is still open: db_flush ends it. */
static bool
sync_due(struct slot *s)
{
	return s->in_flight > 0 && !flight_at(s, s->in_flight - 1)->synced;
}

/* Ends the newest flight's transaction. */
static bool
send_sync(struct slot *s)
{
	flight_at(s, s->in_flight - 1)->synced = true;
	return PQpipelineSync(s->conn);
}

/* Sends what libpq holds; false when the connection failed. */
static bool
flush(struct slot *s)
{
	int			rc = PQflush(s->conn);

	if (rc < 0)
		return false;
	slot_watch(s, rc == 0 ? EPOLLIN : EPOLLIN | EPOLLOUT);
	return s->fd >= 0;
}

/*
 * Closes the connection under its pipelines.  A GET is sent again on
 * another connection, unless the shim is stopping; a POST is not: it may
 * have committed before the break, and the client must decide.
 */
static void
drop_flights(struct slot *s, bool stopping)
{
	struct db_job *jobs[PIPELINE_DEPTH];
	int			n = s->in_flight;

	for (int i = 0; i < n; i++)
	{
		jobs[i] = flight_at(s, i)->job;
		outcome_clear(&flight_at(s, i)->outcome);
	}
	s->in_flight = 0;
	slot_close(s);
	/* Backwards, so that the jobs sent again keep their order at the queue's front. */
	for (int i = n - 1; i >= 0; i--)
	{
		if (!stopping && is_read(jobs[i]) && ++jobs[i]->attempts < ATTEMPTS)
			push_front(jobs[i]);
		else
			complete_with_error(jobs[i], 503, stopping ? "the server is stopping" : "database unavailable");
	}
}

static void
connection_lost(struct slot *s)
{
	metrics_db_error(DB_ERROR_LOST);
	fprintf(stderr, "nilus-manager: database connection lost: %.*s\n",
			(int) strcspn(PQerrorMessage(s->conn), "\n"), PQerrorMessage(s->conn));
	drop_flights(s, false);
	s->retry_at = 0;			/* a restarted server is tried at once */
}

/*
 * Queues the job's pipeline on the connection.  A read that may share
 * joins the open transaction of the reads before it, and db_flush ends it;
 * any other job first ends the open one and then its own.
 */
static void
start_job(struct slot *s, struct db_job *job)
{
	bool		share = may_share(s, job);
	bool		sent = !sync_due(s) || share || send_sync(s);
	struct flight *f = flight_at(s, s->in_flight);

	memset(f, 0, sizeof(*f));
	f->job = job;
	f->sent_at = monotonic_seconds();
	s->in_flight++;
	if (s->state != SLOT_BUSY)
		set_state(s, SLOT_BUSY);
	if (!(sent && send_pipeline(s, f) && (share || send_sync(s))))
		connection_lost(s);
}

static void
take_result(struct slot *s, struct flight *f, PGresult *res)
{
	ExecStatusType status = PQresultStatus(res);
	enum command command = f->current < f->ncommands ? f->commands[f->current] : CMD_SETUP;

	if (status == PGRES_FATAL_ERROR && !f->outcome.error)
		f->outcome.error = res;
	else if (status == PGRES_PIPELINE_ABORTED)
	{
		f->outcome.aborted = true;
		PQclear(res);
	}
	else if (status == PGRES_TUPLES_OK && command == CMD_CALL && !f->outcome.value)
		f->outcome.value = res;
	else
	{
		/* A statement once prepared stays, whatever becomes of the transaction. */
		if (status == PGRES_COMMAND_OK && command == CMD_PREPARE_AUTH)
			s->auth_prepared = true;
		else if (status == PGRES_COMMAND_OK && command == CMD_PREPARE_ROUTE)
			s->prepared[route_index(f->job->route)] = true;
		PQclear(res);
	}
}

/*
 * Answers the oldest flight, whose transaction has committed (or rolled
 * back).  False when that closed the connection.
 */
static bool
finish_job(struct slot *s)
{
	struct flight *f = flight_at(s, 0);
	struct db_job *job = f->job;
	struct outcome o = f->outcome;
	const char *sqlstate = o.error ? PQresultErrorField(o.error, PG_DIAG_SQLSTATE) : NULL;
	bool		unavailable = error_is_unavailable(sqlstate);
	struct db_answer answer;

	metrics_db_roundtrip(monotonic_seconds() - f->sent_at);
	s->first = (s->first + 1) % PIPELINE_DEPTH;
	if (--s->in_flight == 0)
	{
		set_state(s, SLOT_IDLE);
		slot_watch(s, EPOLLIN);
	}
	if (o.aborted && !o.error)
	{
		job->alone = true;
		push_front(job);
		return true;
	}
	if (!o.error)
		s->set_up = true;		/* a SET is undone with its transaction */
	if (error_is_retryable(sqlstate) && ++job->attempts < ATTEMPTS)
	{
		outcome_clear(&o);
		push_front(job);
		return true;
	}
	if (o.error)
	{
		PQclear(o.value);
		answer_from_error(job->route, o.error, &answer);
	}
	else
		answer_from_value(job->route, o.value, &answer);
	job->done(job, &answer);
	if (unavailable)
		drop_flights(s, false);
	return !unavailable;
}

/* A Sync's reply: the flights of the transaction it ended are answered, oldest first. */
static bool
finish_transaction(struct slot *s)
{
	bool		last;

	do
	{
		last = flight_at(s, 0)->synced;
		if (!finish_job(s))
			return false;
	} while (!last && s->in_flight > 0);
	return true;
}

/* The flight the next result belongs to: the oldest whose commands' results are not over. */
static struct flight *
receiving_flight(struct slot *s)
{
	for (int i = 0; i < s->in_flight; i++)
		if (flight_at(s, i)->current < flight_at(s, i)->ncommands)
			return flight_at(s, i);
	return NULL;
}

/* Takes every result that has arrived, as far as it goes without waiting. */
static void
read_results(struct slot *s)
{
	while (s->in_flight > 0 && !PQisBusy(s->conn))
	{
		PGresult   *res = PQgetResult(s->conn);
		struct flight *f = receiving_flight(s);

		if (res && PQresultStatus(res) == PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			if (!finish_transaction(s))
				return;
			continue;
		}
		if (!f)
		{
			/* More than the commands sent: the protocol went astray. */
			PQclear(res);
			connection_lost(s);
			return;
		}
		if (res)
			take_result(s, f, res);
		else
			f->current++;		/* a command's results are over */
	}
	if (PQstatus(s->conn) != CONNECTION_OK)
		connection_lost(s);
}

static void
on_busy_event(struct slot *s, uint32_t events)
{
	if ((events & EPOLLOUT) && !flush(s))
	{
		connection_lost(s);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	if (!PQconsumeInput(s->conn))
		connection_lost(s);
	else
		read_results(s);
}

/* ---- dispatch ---- */

static struct slot *
find_slot(enum slot_state state)
{
	for (unsigned int i = 0; i < n_slots; i++)
		if (slots[i].state == state)
			return &slots[i];
	return NULL;
}

/* Opens the closed connections whose back-off is over: jobs are waiting. */
static void
open_more(void)
{
	double		now = monotonic_seconds();

	for (unsigned int i = 0; i < n_slots; i++)
		if (slots[i].state == SLOT_DOWN && slots[i].retry_at <= now)
			connect_start(&slots[i]);
}

/*
 * The connection for a job.  A read keeps its backend's core busy: reads
 * fill the connections of as many backends as there are cores before they
 * take another idle one, because more backends running at once than cores
 * only take turns, and starve the one loop that serves them all.  A write
 * spends most of its time waiting for its commit to be flushed, a flush
 * that other backends' commits share: it takes an idle connection whenever
 * there is one.  A connection whose oldest pipeline has run for longer than
 * STALLED_AFTER (a long report, a lock wait) neither takes more nor counts
 * as busy, so that reads do not queue behind it while connections idle.  A
 * job never joins a connection whose session setup or statements it needs
 * are still on their way: if they failed, so would it.
 */
static struct slot *
slot_for(const struct db_job *job)
{
	size_t		index = route_index(job->route);
	struct slot *idle = NULL;
	struct slot *least = NULL;
	unsigned int busy = 0;
	double		now = monotonic_seconds();

	for (unsigned int i = 0; i < n_slots; i++)
	{
		struct slot *s = &slots[i];

		if (s->state == SLOT_IDLE && !idle)
			idle = s;
		if (s->state != SLOT_BUSY || now - flight_at(s, 0)->sent_at > STALLED_AFTER)
			continue;
		busy++;
		if (s->in_flight < PIPELINE_DEPTH && s->set_up && s->auth_prepared && s->prepared[index] &&
			(!least || s->in_flight < least->in_flight))
			least = s;
	}
	if (idle && (!least || busy < n_cores || !is_read(job)))
		return idle;
	return least;
}

/* Gives waiting jobs to connections; fails them when none can come. */
static void
dispatch(void)
{
	struct slot *s;

	while (waiting_head && (s = slot_for(waiting_head)) != NULL)
		start_job(s, pop_front());
	if (!waiting_head)
		return;
	open_more();
	/* A connection being opened is never idle yet: the jobs wait for it. */
	if (!find_slot(SLOT_BUSY) && !find_slot(SLOT_CONNECTING))
		fail_waiting(503, "database unavailable");
}

static void
on_slot_event(struct watcher *w, uint32_t events)
{
	struct slot *s = (struct slot *) w;

	switch (s->state)
	{
		case SLOT_CONNECTING:
			connect_step(s);
			break;
		case SLOT_BUSY:
			on_busy_event(s, events);
			break;
		case SLOT_IDLE:
			/* An idle connection has nothing to say: the server is closing it. */
			if (!PQconsumeInput(s->conn) || PQstatus(s->conn) != CONNECTION_OK)
				connection_lost(s);
			break;
		case SLOT_DOWN:
			break;
	}
	dispatch();
}

void
db_submit(struct db_job *job)
{
	job->queued_at = monotonic_seconds();
	job->attempts = 0;
	job->alone = false;
	push_back(job);
	dispatch();
}

void
db_flush(void)
{
	for (unsigned int i = 0; i < n_slots; i++)
	{
		struct slot *s = &slots[i];

		/* libpq sends only what it holds: a connection with nothing new costs no call. */
		if (s->state == SLOT_BUSY && ((sync_due(s) && !send_sync(s)) || !flush(s)))
			connection_lost(s);
	}
}

void
db_tick(void)
{
	double		now = monotonic_seconds();

	while (waiting_head && now - waiting_head->queued_at > POOL_WAIT)
		complete_with_error(pop_front(), 503, "every database connection is busy; try again");
	dispatch();
}

int
db_tick_due_ms(void)
{
	return waiting_head ? 50 : -1;
}

void
db_cancel_all(void)
{
	fail_waiting(503, "the server is stopping");
	for (unsigned int i = 0; i < n_slots; i++)
		if (slots[i].in_flight > 0)
			drop_flights(&slots[i], true);
}

void
db_shutdown(void)
{
	db_cancel_all();
	for (unsigned int i = 0; i < n_slots; i++)
		slot_close(&slots[i]);
	PQfinish(ready_conn);
	ready_conn = NULL;
	free(slots);
	free(dsn);
	slots = NULL;
	n_slots = 0;
}

/* ---- readiness and the gauge ---- */

/* The readiness check's query; NULL when the connection failed. */
static PGresult *
ready_query(void)
{
	if (!ready_conn || PQstatus(ready_conn) != CONNECTION_OK)
	{
		PQfinish(ready_conn);
		ready_conn = connect_params(false);
	}
	if (PQstatus(ready_conn) != CONNECTION_OK)
		return NULL;
	return PQexec(ready_conn, "SELECT extversion FROM pg_extension WHERE extname = 'nilus'");
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
		snprintf(why, size, "database unreachable");
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

static void
read_pool_gauge(unsigned int *values)
{
	values[0] = atomic_load(&busy_count);
	values[1] = atomic_load(&idle_count);
}

static void
register_gauge(void)
{
	static const char *const states[] = {"in_use", "idle"};
	static const struct metrics_gauge gauge = {
		.name = "nilus_manager_db_pool_connections",
		.help = "Database connections of the API workers, by state.",
		.label = "state", .label_values = states, .n_values = 2, .read = read_pool_gauge,
	};

	metrics_register_gauge(&gauge);
}
