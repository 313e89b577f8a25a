/*
 * api_server.h: the API's event loops, one thread each (--loops), started,
 * then served until a stop signal.
 */
#ifndef NILUS_API_SERVER_H
#define NILUS_API_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "connections.h"

struct api_server_config
{
	const struct sockaddr *addr;
	unsigned int loops;			/* --loops */
	unsigned int threads;		/* --threads: database connections, split over the loops */
	unsigned int cores;			/* split over the loops too (see db_pool_start) */
	size_t		max_body;
	const char *docs_dir;
	struct connection_limits limits;	/* each loop's: --max-connections split over the loops */
	char	   *tls_cert;		/* PEM text of --tls-cert; NULL = plain HTTP */
	char	   *tls_key;
};

struct api_server;

/*
 * Listens (a socket per loop on the same address, SO_REUSEPORT), loads the
 * TLS certificate and starts the workers that check large bodies; NULL
 * with the reason on stderr.
 */
struct api_server *api_server_start(const struct api_server_config *config);

/*
 * Serves the API on the loops' threads until one of stop_signals arrives
 * (the calling thread waits for it); then every loop stops accepting, lets
 * its requests in flight finish (at most grace seconds) and closes its
 * connections.  False when it could not start serving.  Frees the server
 * either way.
 */
bool		api_server_serve(struct api_server *server, const sigset_t *stop_signals,
							 double grace);

#endif
