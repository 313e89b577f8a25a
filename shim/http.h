/*
 * http.h: the API listener.
 */
#ifndef NILUS_HTTP_H
#define NILUS_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <microhttpd.h>

struct http_config
{
	const struct sockaddr *addr;
	bool		ipv6;
	unsigned int threads;
	size_t		max_body;
	const char *docs_dir;
};

struct MHD_Daemon *http_start(const struct http_config *config);

/*
 * Serves the API on the calling thread (with the event loop, loop.h) until
 * one of stop_signals arrives; then stops accepting, lets requests in flight
 * finish (at most grace seconds) and stops the daemon.  False when it could
 * not start serving.
 */
bool		http_serve(struct MHD_Daemon *daemon, const sigset_t *stop_signals, double grace);

#endif
