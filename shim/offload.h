/*
 * offload.h: work too long for an event loop (checking a multi-MiB request
 * body) runs on a worker thread, and its completion comes back to the loop
 * that handed it over, as an event of that loop.  Meanwhile the loop
 * serves its other connections.  The workers are few (one per loop) and
 * shared by every loop; the tasks wait in arrival order.
 */
#ifndef NILUS_OFFLOAD_H
#define NILUS_OFFLOAD_H

#include <stdbool.h>

struct offload_inbox;

struct offload_task
{
	void		(*work) (struct offload_task *task);	/* on a worker thread */
	void		(*done) (struct offload_task *task);	/* back on the loop's thread */
	/* offload.c's */
	struct offload_task *next;
	struct offload_inbox *inbox;
};

/* Starts the workers, once, before any loop hands work over; false when none could start. */
bool		offload_start(unsigned int workers);
/* Stops the workers once every loop is done (offload_loop_stop). */
void		offload_stop(void);

/* The calling loop's inbox, watched by its loop (loop.h); false without one. */
bool		offload_loop_start(void);
/* Waits for the calling loop's tasks still out, runs their done, and closes its inbox. */
void		offload_loop_stop(void);

/* Hands the task to a worker; its done runs on the calling loop's thread, never within this call. */
void		offload(struct offload_task *task);

#endif
