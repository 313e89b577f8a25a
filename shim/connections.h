/*
 * connections.h: a listener's connections and their bounds in time and
 * number.  An idle timeout that each received byte resets never stops a
 * client that trickles (slowloris): here the request head and then the
 * body each have a deadline from when they are awaited, an answer being
 * sent has one that progress renews, and at capacity an idle connection
 * makes room for a new one.  One registry per event loop; the connection
 * layer (http_conn.c) embeds a struct tracked in each connection.  The
 * limits in number are the listener's, over all its loops: the loops'
 * registries share one quota (atomic counts; a client's count takes one of
 * a few locks, when its connection opens or closes, never per request).
 */
#ifndef NILUS_CONNECTIONS_H
#define NILUS_CONNECTIONS_H

#include <stdbool.h>
#include <sys/socket.h>

struct connection_limits
{
	unsigned int max;			/* --max-connections */
	unsigned int max_per_client;	/* --max-connections-per-client; 0 = no limit */
	double		header_timeout;	/* --header-timeout: the head, or the next one on keep-alive */
	double		body_timeout;	/* --body-timeout: the body, from the end of the head */
};

enum connection_phase
{
	PHASE_HEAD,					/* the first head, or the next on keep-alive */
	PHASE_BODY,
	PHASE_SERVING,				/* the request is in: the pool's timeout bounds it */
	PHASE_SENDING,				/* the answer goes out: each write renews the deadline */
	PHASE_CLOSING				/* the last answer is out; what the client still sends is dropped */
};

struct client_count;

struct tracked
{
	struct tracked *prev, *next;	/* oldest first */
	enum connection_phase phase;
	bool		served;			/* answered a request already */
	double		deadline;		/* 0 = none */
	struct client_count *client;
};

struct connection_quota;
struct connection_registry;

/* The counts of the listener's loops against limits; NULL without memory. */
struct connection_quota *quota_new(const struct connection_limits *limits);
/* Once every registry that uses it is freed. */
void		quota_free(struct connection_quota *quota);

/* Why a connection must go: past its deadline, or shed for a newer one. */
typedef void (*connection_cut_fn) (struct tracked *connection, bool expired);

struct connection_registry *registry_new(struct connection_quota *quota, connection_cut_fn cut);
void		registry_free(struct connection_registry *registry);

/*
 * Counts a new connection from peer in (PHASE_HEAD).  At capacity (all
 * loops' connections) an idle connection of this registry's loop is cut
 * for it.  False when every one of them is busy or its address already has
 * its share: the caller closes it.
 */
bool		registry_admit(struct connection_registry *registry, struct tracked *connection,
						   const struct sockaddr *peer);
void		registry_remove(struct connection_registry *registry, struct tracked *connection);

/* Enters the phase and starts its deadline. */
void		registry_enter(struct connection_registry *registry, struct tracked *connection,
						   enum connection_phase phase);

unsigned int registry_count(const struct connection_registry *registry);

/* Cuts the connections past their deadline.  Cheap to call every loop turn. */
void		registry_sweep(struct connection_registry *registry);

/* Cuts every connection waiting for a head (idle_only: at a stop), or every one. */
void		registry_cut(struct connection_registry *registry, bool idle_only);

#endif
