/*
 * loop.h: an event loop per thread, one epoll set that the HTTP
 * connections, the database connections and the stop signals share, so
 * that one thread serves them all without handing work between threads.
 * The API's loop beats a heartbeat that the liveness probe reads.
 */
#ifndef NILUS_LOOP_H
#define NILUS_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/* Embedded first in whatever owns a watched descriptor. */
struct watcher
{
	void		(*on_event) (struct watcher *self, uint32_t events);
};

/* The calling thread's loop; heartbeat: this is the API's loop (see loop_seconds_since_turn). */
bool		loop_init(bool heartbeat);
void		loop_free(void);

/* events: EPOLLIN and/or EPOLLOUT, level-triggered unless EPOLLET is among them. */
bool		loop_watch(struct watcher *w, int fd, uint32_t events);
bool		loop_modify(struct watcher *w, int fd, uint32_t events);
void		loop_unwatch(int fd);

/* Seconds on the monotonic clock: what timeouts and durations are measured with. */
double		monotonic_seconds(void);

/*
 * Seconds since the API's loop last began a wait: it turns at least every
 * second when healthy.  Safe to call from any thread (the liveness probe).
 */
double		loop_seconds_since_turn(void);

/* Waits at most timeout_ms for events and runs the watchers of those that came. */
void		loop_wait(int timeout_ms);

#endif
