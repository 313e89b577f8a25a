/*
 * db_conn.h: one connection of the pool (a slot): its state, what it
 * carries in flight, and its life from connecting to closing.
 */
#ifndef NILUS_DB_CONN_H
#define NILUS_DB_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "db.h"
#include "loop.h"

#define MAX_COMMANDS 5
#define PIPELINE_DEPTH 4		/* pipelines in flight on one connection */

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
	struct db_job *job;			/* NULL once answered with 504 (past its deadline) */
	const struct route *route;
	enum command commands[MAX_COMMANDS];
	int			ncommands;
	int			current;		/* index of the command whose results come next */
	bool		synced;			/* a Sync follows its commands: its transaction ends there */
	bool		large;			/* its job's value is large: no other job joins the connection */
	double		sent_at;
	double		abandoned_at;	/* when job was answered with 504 */
	bool		cancel_sent;
	struct outcome outcome;
};

struct slot
{
	struct watcher watcher;		/* first: the loop hands it back */
	PGconn	   *conn;
	int			fd;				/* watched descriptor, -1 = none */
	uint32_t	events;			/* what fd is watched for */
	enum slot_state state;
	bool		set_up;			/* the session setup has committed on this connection */
	bool		auth_prepared;
	bool		prepared[MAX_ROUTES];
	bool		was_up;			/* so the next connection counts as a reconnect */
	bool		reported_down;	/* one log line per outage, not per request */
	bool		inflated;		/* libpq's buffers grew for a large value: reopen when idle */
	double		retry_at;
	/* the pipelines in flight, answered in the order sent: a ring */
	struct flight flights[PIPELINE_DEPTH];
	int			first;
	int			in_flight;
};

/*
 * The DSN every connection opens with, and the statement_timeout its session
 * sets; false when out of memory.
 */
bool		db_conn_init(const char *dsn, double statement_timeout);
void		db_conn_free(void);

/* The one statement that sets a session up (time zone, statement_timeout). */
const char *db_conn_setup_sql(void);

/* A connection with the shim's settings; nonblocking: only started (PQconnectStartParams). */
PGconn	   *db_conn_open(bool nonblocking);

void		slot_init(struct slot *s, void (*on_event) (struct watcher *w, uint32_t events));
void		slot_set_state(struct slot *s, enum slot_state state);
/* Watches the connection's socket for events; libpq may change socket while connecting. */
void		slot_watch(struct slot *s, uint32_t events);
void		slot_close(struct slot *s);

/* Starts opening the connection; the loop drives it on with slot_connect_step. */
void		slot_connect_start(struct slot *s);
/* One step of PQconnectPoll's state machine, when the socket is ready for it. */
void		slot_connect_step(struct slot *s);

/* Connections by state, for the pool's gauge; safe from any thread. */
unsigned int slots_busy(void);
unsigned int slots_idle(void);

#endif
