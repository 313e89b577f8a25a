/*
 * loop.c: a thin layer over epoll, and the monotonic clock its timeouts
 * are measured with; see loop.h.
 */
#include "loop.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* Events taken per wait: under load one wake-up serves this many sockets. */
#define BATCH 64

/*
 * Milliseconds on the monotonic clock at a loop's last turn: written by
 * its loop, read by probes.  A cache line each: loops on other cores
 * write their own every turn.
 */
struct heartbeat
{
	_Alignas(64) atomic_llong ms;
};

static _Thread_local int epoll_fd = -1;
static _Thread_local struct heartbeat *beat;	/* NULL: no heartbeat */

static struct heartbeat heartbeats[LOOPS_MAX];
static atomic_uint n_heartbeats;

static long long
monotonic_ms(void)
{
	return (long long) (monotonic_seconds() * 1000.0);
}

static bool
take_heartbeat(void)
{
	unsigned int n = atomic_fetch_add(&n_heartbeats, 1);

	if (n >= LOOPS_MAX)
		return false;
	beat = &heartbeats[n];
	return true;
}

bool
loop_init(bool heartbeat)
{
	beat = NULL;
	if (heartbeat && !take_heartbeat())
		return false;
	if (beat)
		atomic_store(&beat->ms, monotonic_ms());
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	return epoll_fd >= 0;
}

void
loop_free(void)
{
	/* A loop that has stopped is not wedged: the others may still be finishing. */
	if (beat)
		atomic_store(&beat->ms, 0);
	beat = NULL;
	if (epoll_fd >= 0)
		close(epoll_fd);
	epoll_fd = -1;
}

static bool
control(int op, struct watcher *w, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	if (epoll_ctl(epoll_fd, op, fd, &ev) == 0)
		return true;
	fprintf(stderr, "nilus-manager: epoll_ctl: %s\n", strerror(errno));
	return false;
}

bool
loop_watch(struct watcher *w, int fd, uint32_t events)
{
	return control(EPOLL_CTL_ADD, w, fd, events);
}

bool
loop_modify(struct watcher *w, int fd, uint32_t events)
{
	return control(EPOLL_CTL_MOD, w, fd, events);
}

void
loop_unwatch(int fd)
{
	/* Closing a descriptor unwatches it too: failure here is harmless. */
	epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
}

void
loop_wait(int timeout_ms)
{
	struct epoll_event events[BATCH];
	int			n;

	if (beat)
		atomic_store(&beat->ms, monotonic_ms());
	n = epoll_wait(epoll_fd, events, BATCH, timeout_ms);

	for (int i = 0; i < n; i++)
	{
		struct watcher *w = events[i].data.ptr;

		w->on_event(w, events[i].events);
	}
}

double
monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

double
loop_seconds_since_turn(void)
{
	long long	now = monotonic_ms();
	long long	stalest = now;
	unsigned int n = atomic_load(&n_heartbeats);

	n = n < LOOPS_MAX ? n : LOOPS_MAX;
	for (unsigned int i = 0; i < n; i++)
	{
		long long	ms = atomic_load(&heartbeats[i].ms);

		/* 0: its loop is starting or has stopped */
		stalest = ms > 0 && ms < stalest ? ms : stalest;
	}
	return (double) (now - stalest) / 1000.0;
}
