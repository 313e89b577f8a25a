/*
 * db_pool.c: the pool and the dispatch of jobs to its connections.
 *
 * A job takes an idle connection, else joins the least loaded one (see
 * slot_for).  Jobs that find every connection full wait in arrival order;
 * a job's deadline (the request timeout) counts from db_submit, waiting
 * included, and past it the job gets 504 wherever it is.  The routes marked
 * .probe (health, info) have a connection that data calls never take, and
 * take no connection where a data call runs, so that a health check never
 * waits behind data calls.  Calls with a large body have a connection of
 * their own too (see slot_for_large), so that no call waits behind one.
 * A connection that broke is opened again (asynchronously) when a job
 * needs it; while the database cannot be reached, jobs get 503 at once.
 */
#include "db.h"

#include <stdlib.h>

#include "db_conn.h"
#include "db_flight.h"
#include "db_answer.h"
#include "db_queue.h"
#include "metrics.h"
#include "route_sql.h"

#define STALLED_AFTER 0.05		/* seconds a pipeline runs before none may join it */

/* Each loop has a pool of its own. */
static _Thread_local struct slot *slots;	/* the data calls' connections, the probes' one, the large calls' one */
static _Thread_local unsigned int n_slots;
static _Thread_local unsigned int n_data_slots;
static _Thread_local unsigned int n_cores;
static double request_timeout;

static void on_slot_event(struct watcher *w, uint32_t events);

static void
read_pool_gauge(unsigned int *values)
{
	values[0] = slots_busy();
	values[1] = slots_idle();
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

bool
db_init(const char *dsn, double timeout)
{
	if (!db_conn_init(dsn, timeout))
		return false;
	request_timeout = timeout;
	route_sql_init();
	register_gauge();
	return true;
}

bool
db_pool_start(unsigned int size, unsigned int cores)
{
	slots = calloc(size + 2, sizeof(*slots));
	if (!slots)
		return false;
	n_slots = size + 2;
	n_data_slots = size;
	n_cores = cores;
	for (unsigned int i = 0; i < n_slots; i++)
		slot_init(&slots[i], on_slot_event);
	return true;
}

/* A data connection in the state. */
static struct slot *
find_slot(enum slot_state state)
{
	for (unsigned int i = 0; i < n_data_slots; i++)
		if (slots[i].state == state)
			return &slots[i];
	return NULL;
}

static struct slot *
large_slot(void)
{
	return &slots[n_data_slots + 1];
}

static bool
is_large(const struct db_job *job, const void *arg)
{
	(void) arg;
	return job_is_large(job);
}

/*
 * Opens the closed connections whose back-off is over: jobs are waiting.
 * The large calls' one only when one of them waits.
 */
static void
open_more(void)
{
	double		now = monotonic_seconds();

	for (unsigned int i = 0; i < n_slots; i++)
		if (slots[i].state == SLOT_DOWN && slots[i].retry_at <= now &&
			(&slots[i] != large_slot() || db_queue_find(is_large, NULL)))
			slot_connect_start(&slots[i]);
}

/*
 * The connection for a job.  A read keeps its backend's core busy: reads
 * fill the connections of as many backends as there are cores (this loop's
 * share of them) before they take another idle one, because more backends
 * running at once than cores only take turns, and starve the loops that
 * serve them.  A write
 * spends most of its time waiting for its commit to be flushed, a flush
 * that other backends' commits share: it takes an idle connection whenever
 * there is one.  A connection whose oldest pipeline has run for longer than
 * STALLED_AFTER (a long report, a lock wait) neither takes more nor counts
 * as busy, so that reads do not queue behind it while connections idle.
 * Nor does one that carries a large job (see slot_for_large).  A job never
 * joins a connection whose session setup or
 * statements it needs are still on their way: if they failed, so would it.
 */
static bool
stalled(struct slot *s, double now)
{
	return now - flight_at(s, 0)->sent_at > STALLED_AFTER;
}

/* Whether the busy connection can carry the job's pipeline too (see slot_for). */
static bool
has_room(const struct slot *s, size_t index)
{
	return s->in_flight < PIPELINE_DEPTH && s->set_up && s->auth_prepared && s->prepared[index];
}

/*
 * A probe's connection: its own, idle or carrying other probes that have
 * not stalled, else an idle data connection; never one where a data call
 * runs.
 */
static struct slot *
slot_for_probe(const struct db_job *job)
{
	struct slot *own = &slots[n_data_slots];

	if (own->state == SLOT_IDLE ||
		(own->state == SLOT_BUSY && !stalled(own, monotonic_seconds()) &&
		 has_room(own, route_index(job->route))))
		return own;
	return find_slot(SLOT_IDLE);
}

/*
 * A large job (a body of megabytes, whose sending and storing take the
 * backend over 100 ms) goes to the loop's connection for them, opened when
 * the first comes: a job pipelined behind it would wait for all of it, and
 * with one data connection per loop (the default) the loop's other
 * requests would wait for it in the queue.  PgBouncer's reserve pool
 * (reserve_pool_size) gives a pool more connections when its own cannot
 * serve the clients waiting; here the connection is known to be needed
 * from the start.  Large jobs wait for each other there.  While that
 * connection cannot be opened (its back-off), an idle data connection,
 * which no other job joins meanwhile (slot_for).
 */
static struct slot *
slot_for_large(const struct db_job *job)
{
	struct slot *own = large_slot();

	if (own->state == SLOT_IDLE ||
		(own->state == SLOT_BUSY && has_room(own, route_index(job->route))))
		return own;
	if (own->state == SLOT_DOWN && own->retry_at > monotonic_seconds())
		return find_slot(SLOT_IDLE);
	return NULL;
}

static struct slot *
slot_for(const struct db_job *job)
{
	size_t		index = route_index(job->route);
	struct slot *idle = NULL;
	struct slot *least = NULL;
	unsigned int busy = 0;
	double		now = monotonic_seconds();

	if (job->route->probe)
		return slot_for_probe(job);
	if (job_is_large(job))
		return slot_for_large(job);
	for (unsigned int i = 0; i < n_data_slots; i++)
	{
		struct slot *s = &slots[i];

		if (s->state == SLOT_IDLE && !idle)
			idle = s;
		if (s->state != SLOT_BUSY || stalled(s, now) || flight_carries_large(s))
			continue;
		busy++;
		if (has_room(s, index) && (!least || s->in_flight < least->in_flight))
			least = s;
	}
	if (idle && (!least || busy < n_cores || !job_is_read(job)))
		return idle;
	return least;
}

static bool
is_not_large(const struct db_job *job, const void *arg)
{
	return !is_large(job, arg);
}

/* The jobs that may pass the data calls waiting in order: probes and large jobs. */
static bool
own_connection_with_slot(const struct db_job *job, const void *arg)
{
	(void) arg;
	return (job->route->probe || job_is_large(job)) && slot_for(job) != NULL;
}

/* Whether a connection is on its way or at work: the jobs wait for it. */
static bool
any_coming(void)
{
	enum slot_state large = large_slot()->state;

	return find_slot(SLOT_BUSY) || find_slot(SLOT_CONNECTING) ||
		large == SLOT_BUSY || large == SLOT_CONNECTING;
}

/*
 * Gives waiting jobs to connections: the data calls in order, large jobs
 * and probes past them to connections of their own; fails them when none
 * can come.
 */
static void
dispatch(void)
{
	struct slot *s;
	struct db_job *job;

	while ((job = db_queue_take(is_not_large, NULL)) != NULL)
	{
		if (!(s = slot_for(job)))
		{
			db_queue_push_front(job);
			break;
		}
		flight_start(s, job);
	}
	while ((job = db_queue_take(own_connection_with_slot, NULL)) != NULL)
		flight_start(slot_for(job), job);
	if (!db_queue_head())
		return;
	open_more();
	/* A connection being opened is never idle yet: the jobs wait for it. */
	if (!any_coming())
		db_queue_fail_all(503, "database unavailable");
}

static void
on_slot_event(struct watcher *w, uint32_t events)
{
	struct slot *s = (struct slot *) w;

	switch (s->state)
	{
		case SLOT_CONNECTING:
			slot_connect_step(s);
			break;
		case SLOT_BUSY:
			flight_on_event(s, events);
			/*
			 * Opened again with buffers of the usual size (see db_flight.c):
			 * a data connection at once, so that the pool is not a
			 * connection short meanwhile; the large calls' one when the
			 * next comes.
			 */
			if (s->state == SLOT_IDLE && s->inflated)
			{
				slot_close(s);
				s->was_up = false;	/* not a reconnect */
				if (s != large_slot())
					slot_connect_start(s);
			}
			break;
		case SLOT_IDLE:
			/* An idle connection has nothing to say: the server is closing it. */
			if (!PQconsumeInput(s->conn) || PQstatus(s->conn) != CONNECTION_OK)
				flight_connection_lost(s);
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
	job->deadline = job->queued_at + request_timeout;
	job->attempts = 0;
	job->alone = false;
	db_queue_push_back(job);
	dispatch();
}

void
db_flush(void)
{
	for (unsigned int i = 0; i < n_slots; i++)
		if (slots[i].state == SLOT_BUSY)
			flight_send(&slots[i]);
}

static bool
past_deadline(const struct db_job *job, const void *now)
{
	return job->deadline <= *(const double *) now;
}

void
db_tick(void)
{
	double		now = monotonic_seconds();
	struct db_job *job;

	while ((job = db_queue_take(past_deadline, &now)) != NULL)
	{
		metrics_db_error(DB_ERROR_TIMEOUT);
		db_job_fail(job, 504, "no database connection was free within the request timeout");
	}
	for (unsigned int i = 0; i < n_slots; i++)
		if (slots[i].state == SLOT_BUSY)
			flight_expire(&slots[i], now);
	dispatch();
}

int
db_tick_due_ms(void)
{
	double		next = 0;

	if (db_queue_head())
		return 50;
	for (unsigned int i = 0; i < n_slots; i++)
	{
		double		due = slots[i].state == SLOT_BUSY ? flight_next_deadline(&slots[i]) : 0;

		if (due > 0 && (next == 0 || due < next))
			next = due;
	}
	if (next == 0)
		return -1;
	next -= monotonic_seconds();
	return next <= 0 ? 0 : (int) (next * 1000) + 1;
}

void
db_cancel_all(void)
{
	db_queue_fail_all(503, "the server is stopping");
	for (unsigned int i = 0; i < n_slots; i++)
		if (slots[i].in_flight > 0)
			flight_cancel(&slots[i]);
}

void
db_pool_stop(void)
{
	db_cancel_all();
	for (unsigned int i = 0; i < n_slots; i++)
		slot_close(&slots[i]);
	free(slots);
	slots = NULL;
	n_slots = 0;
}

void
db_shutdown(void)
{
	db_conn_free();
}
