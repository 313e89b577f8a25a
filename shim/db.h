/*
 * db.h: the shim's PostgreSQL side, the database pool.  Non-blocking
 * connections driven by the event loop (loop.h), statements prepared once
 * per connection, and each request sent as one pipeline (authenticate +
 * the route's function) = one round trip; a connection carries several
 * requests' pipelines at once.  The pool's parts: db_conn.c (a
 * connection's life), db_flight.c (pipelines), db_queue.c (waiting jobs),
 * db_answer.c (answers), db_pool.c (dispatch, this interface).
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
	PGresult   *result;			/* owns body when set (db_answer_free it), else body is malloc'd */
	int			file;			/* >= 0: body is NULL, the answer is in this file instead */
};

/*
 * Release an answer once its body is sent (the response's release functions):
 * its result, or its file passed as (void *) (intptr_t) file.  Large answers
 * held for their clients are counted against budgets (see db_answer.c).
 */
void		db_answer_free(void *result);
void		db_answer_close_file(void *file);

struct db_job;
/* Takes the answer's ownership.  Runs on the submitting loop's thread, maybe within db_submit. */
typedef void (*db_done_fn) (struct db_job *job, struct db_answer *answer);

/*
 * One request's call, owned by the caller until done runs.  values: the
 * route's bound parameters in order (path, query, body); NULL = not given;
 * they and token must stay valid until then.  body_len: the length of the
 * body's value (the last), when the route takes a body; a large one goes
 * to a connection of its own (see db_pool.c).
 */
struct db_job
{
	const struct route *route;
	const char *token;
	const char *values[MAX_BOUND_PARAMS];
	int			nvalues;
	size_t		body_len;
	db_done_fn	done;
	/* the pool's */
	struct db_job *next;
	double		queued_at;
	double		deadline;		/* queued_at + the request timeout: 504 past it */
	int			attempts;
	bool		alone;			/* in a transaction of its own */
};

/*
 * Once, before any loop starts its pool: the DSN, and request_timeout:
 * seconds a job may take from db_submit to its answer, waiting included;
 * past it the job gets 504 and its statement is cancelled.
 */
bool		db_init(const char *dsn, double request_timeout);
void		db_shutdown(void);

/*
 * The calling loop's own pool (every call below is the calling loop's):
 * size: connections for data calls, i.e. requests executed at once (one
 * more is kept for the routes marked .probe); cores: how many of them reads
 * keep busy before they take another (see slot_for).
 */
bool		db_pool_start(unsigned int size, unsigned int cores);
void		db_pool_stop(void);

/* Runs the job on a connection with room for it, or queues it until one has. */
void		db_submit(struct db_job *job);

/*
 * Ends the reads' transactions and sends what the connections hold; the
 * loop calls it once per turn, after serving HTTP.
 */
void		db_flush(void);

/* Expires jobs past their deadline and retries connections; the loop calls it often. */
void		db_tick(void);
/* Milliseconds until db_tick has work (or -1 for none). */
int			db_tick_due_ms(void);

/* Answers every job not yet answered with 503: the shim is stopping. */
void		db_cancel_all(void);

#endif
