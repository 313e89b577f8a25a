/*
 * connections.c: deadlines, shedding and per-address counts of a
 * listener's connections; see connections.h.  Everything here runs on the
 * registry's loop thread.
 *
 * At capacity, the new connection stays and an older one goes (as nginx
 * drains its keep-alive connections): first the one that has idled
 * longest between requests, else the oldest one still sending its first
 * head; a connection with a request in progress is never chosen.
 */
#include "connections.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

#define SWEEP_INTERVAL 0.25		/* seconds between two looks at the deadlines */
#define SEND_TIMEOUT 60.0		/* seconds an answer may go without progress */
#define LINGER_TIMEOUT 2.0		/* seconds to drop what a closing client still sends */
#define CLIENT_BUCKETS 1024

/* How many connections one client address has open. */
struct client_count
{
	struct client_count *next;
	unsigned char address[16];	/* IPv4 as IPv4-mapped IPv6 */
	unsigned int open;
};

struct connection_registry
{
	struct connection_limits limits;
	connection_cut_fn cut;
	struct tracked *oldest, *newest;
	unsigned int count;
	double		next_sweep;
	struct client_count *clients[CLIENT_BUCKETS];
};

struct connection_registry *
registry_new(const struct connection_limits *limits, connection_cut_fn cut)
{
	struct connection_registry *registry = calloc(1, sizeof(*registry));

	if (registry)
	{
		registry->limits = *limits;
		registry->cut = cut;
	}
	return registry;
}

void
registry_free(struct connection_registry *registry)
{
	free(registry);
}

unsigned int
registry_count(const struct connection_registry *registry)
{
	return registry->count;
}

/* ---- counts per client address ---- */

static void
address_key(const struct sockaddr *peer, unsigned char key[16])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(key, 0, 16);
	if (peer->sa_family == AF_INET6)
		memcpy(key, &((const struct sockaddr_in6 *) peer)->sin6_addr, 16);
	else if (peer->sa_family == AF_INET)
	{
		memcpy(key, mapped, sizeof(mapped));
		memcpy(key + 12, &((const struct sockaddr_in *) peer)->sin_addr, 4);
	}
}

static struct client_count **
client_slot(struct connection_registry *registry, const unsigned char key[16])
{
	uint32_t	hash = 2166136261u; /* FNV-1a */
	struct client_count **slot;

	for (int i = 0; i < 16; i++)
		hash = (hash ^ key[i]) * 16777619u;
	slot = &registry->clients[hash % CLIENT_BUCKETS];
	while (*slot && memcmp((*slot)->address, key, 16) != 0)
		slot = &(*slot)->next;
	return slot;
}

/* The client's count, made if new; NULL when its address has its share or memory ran out. */
static struct client_count *
client_take(struct connection_registry *registry, const struct sockaddr *peer)
{
	unsigned char key[16];
	struct client_count **slot;

	address_key(peer, key);
	slot = client_slot(registry, key);
	if (!*slot)
	{
		*slot = calloc(1, sizeof(**slot));
		if (!*slot)
			return NULL;
		memcpy((*slot)->address, key, 16);
	}
	if (registry->limits.max_per_client && (*slot)->open >= registry->limits.max_per_client)
		return NULL;
	(*slot)->open++;
	return *slot;
}

static void
client_release(struct connection_registry *registry, struct client_count *client)
{
	struct client_count **slot = client_slot(registry, client->address);

	if (--client->open == 0)
	{
		*slot = client->next;
		free(client);
	}
}

/* ---- the list, oldest first ---- */

/* The connection to give up for a new one, or NULL when every one is busy. */
static struct tracked *
shed_victim(struct connection_registry *registry)
{
	struct tracked *first_head = NULL;

	for (struct tracked *t = registry->oldest; t; t = t->next)
	{
		if (t->phase != PHASE_HEAD)
			continue;
		if (t->served)
			return t;
		if (!first_head)
			first_head = t;
	}
	return first_head;
}

bool
registry_admit(struct connection_registry *registry, struct tracked *t,
			   const struct sockaddr *peer)
{
	struct client_count *client = client_take(registry, peer);
	struct tracked *victim = NULL;

	if (client && registry->count >= registry->limits.max && !(victim = shed_victim(registry)))
	{
		client_release(registry, client);
		return false;
	}
	if (!client)
		return false;
	if (victim)
		registry->cut(victim, false);
	memset(t, 0, sizeof(*t));
	t->client = client;
	registry_enter(registry, t, PHASE_HEAD);
	t->prev = registry->newest;
	if (registry->newest)
		registry->newest->next = t;
	else
		registry->oldest = t;
	registry->newest = t;
	registry->count++;
	return true;
}

void
registry_remove(struct connection_registry *registry, struct tracked *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		registry->oldest = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		registry->newest = t->prev;
	t->prev = t->next = NULL;
	client_release(registry, t->client);
	registry->count--;
}

void
registry_enter(struct connection_registry *registry, struct tracked *t,
			   enum connection_phase phase)
{
	double		timeout = 0;

	switch (phase)
	{
		case PHASE_HEAD:
			timeout = registry->limits.header_timeout;
			break;
		case PHASE_BODY:
			timeout = registry->limits.body_timeout;
			break;
		case PHASE_SERVING:
			break;
		case PHASE_SENDING:
			timeout = SEND_TIMEOUT;
			break;
		case PHASE_CLOSING:
			timeout = LINGER_TIMEOUT;
			break;
	}
	t->phase = phase;
	t->deadline = timeout > 0 ? monotonic_seconds() + timeout : 0;
}

void
registry_sweep(struct connection_registry *registry)
{
	double		now = monotonic_seconds();
	struct tracked *next;

	if (now < registry->next_sweep)
		return;
	registry->next_sweep = now + SWEEP_INTERVAL;
	for (struct tracked *t = registry->oldest; t; t = next)
	{
		next = t->next;
		if (t->deadline > 0 && now >= t->deadline)
			registry->cut(t, true);
	}
}

void
registry_cut(struct connection_registry *registry, bool idle_only)
{
	struct tracked *next;

	for (struct tracked *t = registry->oldest; t; t = next)
	{
		next = t->next;
		if (!idle_only || t->phase == PHASE_HEAD)
			registry->cut(t, false);
	}
}
