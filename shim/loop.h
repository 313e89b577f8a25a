/*
 * loop.h: an event loop per thread, one epoll set that a loop's HTTP
 * connections, its database connections and its stop signal share, so
 * that one thread serves them all without handing work between threads.
 * The API's loops (one per core, --loops) each beat a heartbeat that the
 * liveness probe reads.
 */
#ifndef NILUS_LOOP_H
#define NILUS_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "nilus_api.h"

/* Embedded first in whatever owns a watched descriptor. */
struct watcher
{
	void		(*on_event) (struct watcher *self, uint32_t events);
};

/* The most API loops (--loops): each has a heartbeat of its own. */
#define LOOPS_MAX NILUS_LOOPS_MAX

/*
 * The calling thread's loop; heartbeat: this is one of the API's loops
 * (see loop_seconds_since_turn).  False without memory or past LOOPS_MAX.
 */
bool		loop_init(bool heartbeat);
void		loop_free(void);

/* events: EPOLLIN and/or EPOLLOUT, level-triggered unless EPOLLET is among them. */
bool		loop_watch(struct watcher *w, int fd, uint32_t events);
bool		loop_modify(struct watcher *w, int fd, uint32_t events);
void		loop_unwatch(int fd);

/* Seconds on the monotonic clock: what timeouts and durations are measured with. */
double		monotonic_seconds(void);

/*
 * Seconds since the stalest of the API's loops last began a wait: each
 * turns at least every second when healthy.  Safe to call from any thread
 * (the liveness probe).
 */
double		loop_seconds_since_turn(void);

/* Waits at most timeout_ms for events and runs the watchers of those that came. */
void		loop_wait(int timeout_ms);

#endif
