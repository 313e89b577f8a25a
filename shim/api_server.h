/*
 * api_server.h: the API listener: started, then served until a stop signal.
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
	unsigned int threads;
	size_t		max_body;
	const char *docs_dir;
	struct connection_limits limits;
	char	   *tls_cert;		/* PEM text of --tls-cert; NULL = plain HTTP */
	char	   *tls_key;
};

struct api_server;

/* Listens (and loads the TLS certificate); NULL with the reason on stderr. */
struct api_server *api_server_start(const struct api_server_config *config);

/*
 * Serves the API on the calling thread (with the event loop, loop.h) until
 * one of stop_signals arrives; then stops accepting, lets requests in flight
 * finish (at most grace seconds) and closes every connection.  False when
 * it could not start serving.  Frees the server either way.
 */
bool		api_server_serve(struct api_server *server, const sigset_t *stop_signals,
							 double grace);

#endif
