/*
 * db_flight.h: the pipelines in flight on one connection: sending a job's
 * pipeline, taking its results, answering it when its transaction ends.
 */
#ifndef NILUS_DB_FLIGHT_H
#define NILUS_DB_FLIGHT_H

#include <stdbool.h>
#include <stdint.h>

#include "db_conn.h"

/* The i-th oldest pipeline in flight on the connection. */
struct flight *flight_at(struct slot *s, int i);

bool		job_is_read(const struct db_job *job);

/*
 * Whether the job's value is large enough that sending it and storing it
 * take long: its connection carries no other job meanwhile (db_pool.c).
 */
bool		job_is_large(const struct db_job *job);

/* Whether a large job's pipeline is in flight on the connection (answered or not). */
bool		flight_carries_large(struct slot *s);

/* Queues the job's pipeline on the connection (see the opening comment of db_flight.c). */
void		flight_start(struct slot *s, struct db_job *job);

/* The busy connection's socket is ready: send what waits, take what came. */
void		flight_on_event(struct slot *s, uint32_t events);

/* Ends the reads' open transaction and sends what libpq holds. */
void		flight_send(struct slot *s);

/*
 * Answers the flights past their deadline with 504 and cancels their
 * statements; closes a connection that a cancel did not bring back.
 */
void		flight_expire(struct slot *s, double now);

/* The earliest deadline of the connection's jobs in flight; 0 when none. */
double		flight_next_deadline(struct slot *s);

/* The connection broke: logged, closed, its jobs sent again or failed. */
void		flight_connection_lost(struct slot *s);

/* The shim is stopping: the connection's jobs get 503 and it is closed. */
void		flight_cancel(struct slot *s);

#endif
