/*
 * db_flight.c: the one-round-trip pipeline.
 *
 * A job sends its pipeline (authenticate + the route's function, with
 * whatever session setup or PREPARE the connection still lacks) and is
 * answered when the reply to the Sync that ends its transaction arrives;
 * meanwhile the loop serves everybody else.  A write's pipeline has a Sync
 * of its own; the reads given to a connection in one turn of the loop share
 * one (see may_share), which flight_send sends with them in one write.  A
 * connection carries up to PIPELINE_DEPTH pipelines: the backend finds the
 * next request in its socket when it finishes one, instead of sleeping
 * until the shim has read the answer and sent another.  The replies come
 * in the order sent.
 *
 * A job past its deadline (the request timeout) is answered 504 at once and
 * its flight abandoned: what the database sends for it later is dropped.
 * Its statement is cancelled (PQcancel, on a thread of its own: in libpq 15
 * it waits for the server), so that the connection serves again; the
 * session's statement_timeout ends it even if the cancel is lost, and a
 * connection still stuck CANCEL_GRACE seconds later is closed (the reads on
 * it are sent again, a write gets 503), as PgBouncer's query_timeout does.
 */
#include "db_flight.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "body.h"
#include "db_answer.h"
#include "db_queue.h"
#include "errors.h"
#include "metrics.h"
#include "route_sql.h"

#define AUTH_STATEMENT "nilus_auth"
#define AUTH_SQL "SELECT nilus.authenticate($1::text)"
#define ATTEMPTS 3				/* a serialization failure or a lost connection is retried */
#define CANCEL_GRACE 5.0		/* seconds a cancelled statement has to end before its connection is closed */
/*
 * libpq never shrinks a connection's buffers: one that carried a value this
 * large is reopened once idle, so that the memory a burst took comes back.
 */
#define LARGE_VALUE (1024 * 1024)
#define TIMED_OUT "the database did not answer within the request timeout"

static void
outcome_clear(struct outcome *o)
{
	PQclear(o->value);
	PQclear(o->error);
	memset(o, 0, sizeof(*o));
}

static void
statement_name(const struct route *route, char *buf, size_t size)
{
	snprintf(buf, size, "nilus_r%zu", route_index(route));
}

bool
job_is_read(const struct db_job *job)
{
	return strcmp(job->route->method, "GET") == 0;
}

bool
job_is_large(const struct db_job *job)
{
	return job->route->body && job->body_len >= LARGE_BODY;
}

struct flight *
flight_at(struct slot *s, int i)
{
	return &s->flights[(s->first + i) % PIPELINE_DEPTH];
}

bool
flight_carries_large(struct slot *s)
{
	for (int i = 0; i < s->in_flight; i++)
		if (flight_at(s, i)->large)
			return true;
	return false;
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
	if (!s->set_up && !send_command(f, CMD_SETUP, PQsendQueryParams(c, db_conn_setup_sql(), 0, NULL,
																		NULL, NULL, NULL, 0)))
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
	return job_is_read(job) && !job->alone && s->set_up;
}

/* Whether the newest flight's transaction is still open: flight_send ends it. */
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
		if (!jobs[i])
			continue;			/* answered already: its deadline passed */
		if (!stopping && job_is_read(jobs[i]) && ++jobs[i]->attempts < ATTEMPTS)
			db_queue_push_front(jobs[i]);
		else
			db_job_fail(jobs[i], 503, stopping ? "the server is stopping" : "database unavailable");
	}
}

void
flight_connection_lost(struct slot *s)
{
	metrics_db_error(DB_ERROR_LOST);
	fprintf(stderr, "nilus-manager: database connection lost: %.*s\n",
			(int) strcspn(PQerrorMessage(s->conn), "\n"), PQerrorMessage(s->conn));
	drop_flights(s, false);
	s->retry_at = 0;			/* a restarted server is tried at once */
}

/*
 * Queues the job's pipeline on the connection.  A read that may share
 * joins the open transaction of the reads before it, and flight_send ends it;
 * any other job first ends the open one and then its own.
 */
void
flight_start(struct slot *s, struct db_job *job)
{
	bool		share = may_share(s, job);
	bool		sent = !sync_due(s) || share || send_sync(s);
	struct flight *f = flight_at(s, s->in_flight);

	memset(f, 0, sizeof(*f));
	f->job = job;
	f->route = job->route;
	f->large = job_is_large(job);
	if (job->route->body && job->body_len > LARGE_VALUE)
		s->inflated = true;
	f->sent_at = monotonic_seconds();
	s->in_flight++;
	if (s->state != SLOT_BUSY)
		slot_set_state(s, SLOT_BUSY);
	if (!(sent && send_pipeline(s, f) && (share || send_sync(s))))
		flight_connection_lost(s);
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
	{
		f->outcome.value = res;
		if (PQntuples(res) == 1 && PQgetlength(res, 0, 0) > LARGE_VALUE)
			s->inflated = true;
	}
	else
	{
		/* A statement once prepared stays, whatever becomes of the transaction. */
		if (status == PGRES_COMMAND_OK && command == CMD_PREPARE_AUTH)
			s->auth_prepared = true;
		else if (status == PGRES_COMMAND_OK && command == CMD_PREPARE_ROUTE)
			s->prepared[route_index(f->route)] = true;
		PQclear(res);
	}
}

/* Gives the job its outcome: its answer, or another try. */
static void
settle_job(struct db_job *job, struct outcome *o, const char *sqlstate)
{
	struct db_answer answer;

	if (o->aborted && !o->error)
	{
		job->alone = true;
		db_queue_push_front(job);
		return;
	}
	if (error_is_retryable(sqlstate) && ++job->attempts < ATTEMPTS)
	{
		outcome_clear(o);
		db_queue_push_front(job);
		return;
	}
	if (o->error)
	{
		PQclear(o->value);
		db_answer_failure(job->route, o->error, &answer);
	}
	else
		db_answer_value(job->route, o->value, &answer);
	job->done(job, &answer);
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

	metrics_db_roundtrip(monotonic_seconds() - f->sent_at);
	s->first = (s->first + 1) % PIPELINE_DEPTH;
	if (--s->in_flight == 0)
	{
		slot_set_state(s, SLOT_IDLE);
		slot_watch(s, EPOLLIN);
	}
	if (!o.error && !o.aborted)
		s->set_up = true;		/* a SET is undone with its transaction */
	if (job)
		settle_job(job, &o, sqlstate);
	else
		outcome_clear(&o);		/* answered already: its deadline passed */
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
			flight_connection_lost(s);
			return;
		}
		if (res)
			take_result(s, f, res);
		else
			f->current++;		/* a command's results are over */
	}
	if (PQstatus(s->conn) != CONNECTION_OK)
		flight_connection_lost(s);
}

void
flight_on_event(struct slot *s, uint32_t events)
{
	if ((events & EPOLLOUT) && !flush(s))
	{
		flight_connection_lost(s);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	if (!PQconsumeInput(s->conn))
		flight_connection_lost(s);
	else
		read_results(s);
}

void
flight_send(struct slot *s)
{
	/* libpq sends only what it holds: a connection with nothing new costs no call. */
	if ((sync_due(s) && !send_sync(s)) || !flush(s))
		flight_connection_lost(s);
}

static void *
cancel_statement(void *cancel)
{
	char		why[256];

	if (!PQcancel(cancel, why, sizeof(why)))
		fprintf(stderr, "nilus-manager: cannot cancel a timed-out statement: %s\n", why);
	PQfreeCancel(cancel);
	return NULL;
}

/* Cancels the statement the server runs on the connection, from a thread of its own. */
static void
cancel_running(struct slot *s)
{
	PGcancel   *cancel = PQgetCancel(s->conn);
	pthread_attr_t attr;
	pthread_t	thread;

	if (!cancel || pthread_attr_init(&attr) != 0)
	{
		PQfreeCancel(cancel);
		return;
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Without a thread, the session's statement_timeout still ends it. */
	if (pthread_create(&thread, &attr, cancel_statement, cancel) != 0)
		PQfreeCancel(cancel);
	pthread_attr_destroy(&attr);
}

void
flight_expire(struct slot *s, double now)
{
	struct flight *running;

	for (int i = 0; i < s->in_flight; i++)
	{
		struct flight *f = flight_at(s, i);
		struct db_job *job = f->job;

		if (!job || job->deadline > now)
			continue;
		f->job = NULL;
		f->abandoned_at = now;
		metrics_db_error(DB_ERROR_TIMEOUT);
		db_job_fail(job, 504, TIMED_OUT);
	}
	running = receiving_flight(s);
	if (running && !running->job && !running->cancel_sent)
	{
		running->cancel_sent = true;
		cancel_running(s);
	}
	if (s->in_flight > 0 && !flight_at(s, 0)->job &&
		now - flight_at(s, 0)->abandoned_at > CANCEL_GRACE)
	{
		fprintf(stderr, "nilus-manager: a timed-out statement did not end %.0f s after its "
				"cancel; closing its connection\n", CANCEL_GRACE);
		metrics_db_error(DB_ERROR_LOST);
		drop_flights(s, false);
		s->retry_at = 0;
	}
}

double
flight_next_deadline(struct slot *s)
{
	double		next = 0;

	for (int i = 0; i < s->in_flight; i++)
	{
		struct flight *f = flight_at(s, i);
		double		due = f->job ? f->job->deadline : f->abandoned_at + CANCEL_GRACE;

		if (next == 0 || due < next)
			next = due;
	}
	return next;
}

void
flight_cancel(struct slot *s)
{
	drop_flights(s, true);
}
