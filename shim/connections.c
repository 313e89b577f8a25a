/*
 * connections.c: deadlines, shedding and per-address counts of a
 * listener's connections; see connections.h.  A registry is its loop's
 * only; the quota is shared by the listener's loops.
 *
 * At capacity, the new connection stays and an older one goes (as nginx
 * drains its keep-alive connections): first the one that has idled
 * longest between requests, else the oldest one still sending its first
 * head; a connection with a request in progress is never chosen.  It is
 * chosen among the connections of the loop that accepted the new one: a
 * loop never closes another's.
 */
#include "connections.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

#define SWEEP_INTERVAL 0.25		/* seconds between two looks at the deadlines */
#define SEND_TIMEOUT 60.0		/* seconds an answer may go without progress */
#define LINGER_TIMEOUT 2.0		/* seconds to drop what a closing client still sends */
#define CLIENT_BUCKETS 1024
#define CLIENT_LOCKS 64			/* a lock for every CLIENT_BUCKETS / CLIENT_LOCKS buckets */

/* How many connections one client address has open. */
struct client_count
{
	struct client_count *next;
	unsigned char address[16];	/* IPv4 as IPv4-mapped IPv6 */
	unsigned int open;
};

struct connection_quota
{
	struct connection_limits limits;
	atomic_uint open;			/* connections of every loop */
	pthread_mutex_t locks[CLIENT_LOCKS];
	struct client_count *clients[CLIENT_BUCKETS];
};

struct connection_registry
{
	struct connection_quota *quota;
	connection_cut_fn cut;
	struct tracked *oldest, *newest;
	unsigned int count;
	double		next_sweep;
};

struct connection_quota *
quota_new(const struct connection_limits *limits)
{
	struct connection_quota *quota = calloc(1, sizeof(*quota));

	if (!quota)
		return NULL;
	quota->limits = *limits;
	for (int i = 0; i < CLIENT_LOCKS; i++)
		pthread_mutex_init(&quota->locks[i], NULL);
	return quota;
}

void
quota_free(struct connection_quota *quota)
{
	if (!quota)
		return;
	for (int i = 0; i < CLIENT_LOCKS; i++)
		pthread_mutex_destroy(&quota->locks[i]);
	free(quota);
}

struct connection_registry *
registry_new(struct connection_quota *quota, connection_cut_fn cut)
{
	struct connection_registry *registry = calloc(1, sizeof(*registry));

	if (registry)
	{
		registry->quota = quota;
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

static uint32_t
client_bucket(const unsigned char key[16])
{
	uint32_t	hash = 2166136261u; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		hash = (hash ^ key[i]) * 16777619u;
	return hash % CLIENT_BUCKETS;
}

/* The address's place in its bucket; the bucket's lock is held. */
static struct client_count **
client_slot(struct connection_quota *quota, uint32_t bucket, const unsigned char key[16])
{
	struct client_count **slot = &quota->clients[bucket];

	while (*slot && memcmp((*slot)->address, key, 16) != 0)
		slot = &(*slot)->next;
	return slot;
}

/* The client's count, made if new; NULL when its address has its share or memory ran out. */
static struct client_count *
client_take(struct connection_quota *quota, const struct sockaddr *peer)
{
	unsigned char key[16];
	uint32_t	bucket;
	struct client_count **slot;
	struct client_count *client = NULL;

	address_key(peer, key);
	bucket = client_bucket(key);
	pthread_mutex_lock(&quota->locks[bucket % CLIENT_LOCKS]);
	slot = client_slot(quota, bucket, key);
	if (!*slot && (*slot = calloc(1, sizeof(**slot))) != NULL)
		memcpy((*slot)->address, key, 16);
	/* A count just made is 0: below any share. */
	if (*slot && (!quota->limits.max_per_client || (*slot)->open < quota->limits.max_per_client))
	{
		client = *slot;
		client->open++;
	}
	pthread_mutex_unlock(&quota->locks[bucket % CLIENT_LOCKS]);
	return client;
}

static void
client_release(struct connection_quota *quota, struct client_count *client)
{
	uint32_t	bucket = client_bucket(client->address);
	struct client_count **slot;

	pthread_mutex_lock(&quota->locks[bucket % CLIENT_LOCKS]);
	slot = client_slot(quota, bucket, client->address);
	if (--client->open == 0)
	{
		*slot = client->next;
		free(client);
	}
	pthread_mutex_unlock(&quota->locks[bucket % CLIENT_LOCKS]);
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
	struct connection_quota *quota = registry->quota;
	struct client_count *client = client_take(quota, peer);
	struct tracked *victim = NULL;

	if (!client)
		return false;
	if (atomic_fetch_add(&quota->open, 1) >= quota->limits.max && !(victim = shed_victim(registry)))
	{
		atomic_fetch_sub(&quota->open, 1);
		client_release(quota, client);
		return false;
	}
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
	client_release(registry->quota, t->client);
	atomic_fetch_sub(&registry->quota->open, 1);
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
			timeout = registry->quota->limits.header_timeout;
			break;
		case PHASE_BODY:
			timeout = registry->quota->limits.body_timeout;
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
