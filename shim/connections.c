/*
 * connections.c: deadlines and shedding of the API listener's connections;
 * see connections.h.  A connection is cut with shutdown(2): MHD sees the
 * end of its stream at once and closes it in its own time, so no descriptor
 * is ever closed under MHD's feet.  Everything here runs on the loop thread.
 *
 * At capacity, the new connection stays and an older one goes (as nginx
 * drains its keep-alive connections): first the one that has idled
 * longest between requests, else the oldest one still sending its first
 * head; a connection with a request in progress is never chosen.
 */
#include "connections.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "loop.h"

/* Room above --max-connections for connections accepted while shed ones are still closing. */
#define ACCEPT_HEADROOM 64
#define SWEEP_INTERVAL 0.25		/* seconds between two looks at the deadlines */

enum phase
{
	AWAITING_HEAD,				/* the first head, or the next on keep-alive */
	READING_BODY,
	SERVING						/* the request is in: the pool's timeout bounds it */
};

struct tracked
{
	struct tracked *prev, *next;	/* oldest first */
	MHD_socket	fd;
	enum phase	phase;
	bool		served;			/* answered a request already: an idle keep-alive */
	bool		cut;			/* shut down, MHD has yet to close it */
	double		deadline;		/* of the head or body; 0 = none */
};

static struct connection_limits limits;
static struct tracked *oldest, *newest;
static unsigned int live;		/* tracked and not cut */
static double next_sweep;

void
connections_init(const struct connection_limits *config)
{
	limits = *config;
}

unsigned int
connections_accept_limit(void)
{
	return limits.max + ACCEPT_HEADROOM;
}

static void
enter_phase(struct tracked *t, enum phase phase, double timeout)
{
	t->phase = phase;
	t->deadline = timeout > 0 ? monotonic_seconds() + timeout : 0;
}

static void
cut(struct tracked *t)
{
	t->cut = true;
	live--;
	shutdown(t->fd, SHUT_RDWR);
}

/* The connection to give up for a new one, or NULL when every one is busy. */
static struct tracked *
shed_victim(const struct tracked *spare)
{
	struct tracked *first_head = NULL;

	for (struct tracked *t = oldest; t; t = t->next)
	{
		if (t == spare || t->cut || t->phase != AWAITING_HEAD)
			continue;
		if (t->served)
			return t;
		if (!first_head)
			first_head = t;
	}
	return first_head;
}

static void
track(struct MHD_Connection *connection, void **socket_context)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct tracked *t = calloc(1, sizeof(*t));

	*socket_context = t;
	if (!t || !info)
	{
		free(t);
		*socket_context = NULL;
		return;
	}
	t->fd = info->connect_fd;
	enter_phase(t, AWAITING_HEAD, limits.header_timeout);
	t->prev = newest;
	if (newest)
		newest->next = t;
	else
		oldest = t;
	newest = t;
	live++;
	if (live > limits.max)
	{
		struct tracked *victim = shed_victim(t);

		cut(victim ? victim : t);
	}
}

static void
untrack(struct tracked *t)
{
	if (!t)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		oldest = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		newest = t->prev;
	if (!t->cut)
		live--;
	free(t);
}

void
connections_on_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
					  enum MHD_ConnectionNotificationCode code)
{
	(void) cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		track(connection, socket_context);
	else
		untrack(*socket_context);
}

static struct tracked *
tracked_of(struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? info->socket_context : NULL;
}

void
connection_head_received(struct MHD_Connection *connection)
{
	struct tracked *t = tracked_of(connection);

	if (t)
		enter_phase(t, READING_BODY, limits.body_timeout);
}

void
connection_request_received(struct MHD_Connection *connection)
{
	struct tracked *t = tracked_of(connection);

	if (t)
		enter_phase(t, SERVING, 0);
}

void
connection_answered(struct MHD_Connection *connection)
{
	struct tracked *t = tracked_of(connection);

	if (!t)
		return;
	t->served = true;
	enter_phase(t, AWAITING_HEAD, limits.header_timeout);
}

void
connections_sweep(void)
{
	double		now = monotonic_seconds();

	if (now < next_sweep)
		return;
	next_sweep = now + SWEEP_INTERVAL;
	for (struct tracked *t = oldest; t; t = t->next)
		if (!t->cut && t->deadline > 0 && now >= t->deadline)
			cut(t);
}
