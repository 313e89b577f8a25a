/*
 * metrics_server.h: the second listener (/metrics, /health, /readiness),
 * with a loop on a thread of its own, so that a probe never waits behind
 * data calls and sees a wedged API loop.
 */
#ifndef NILUS_METRICS_SERVER_H
#define NILUS_METRICS_SERVER_H

#include <sys/socket.h>

struct metrics_server;

/* Listens and starts its thread; NULL with the reason on stderr. */
struct metrics_server *metrics_server_start(const struct sockaddr *addr);

/* Stops its thread and closes its connections. */
void		metrics_server_stop(struct metrics_server *server);

#endif
