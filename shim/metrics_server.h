/*
 * metrics_server.h: the second listener (/metrics, /health, /readiness),
 * on a thread of its own so that a probe never waits behind data calls.
 */
#ifndef NILUS_METRICS_SERVER_H
#define NILUS_METRICS_SERVER_H

#include <sys/socket.h>

struct MHD_Daemon;

struct MHD_Daemon *metrics_server_start(const struct sockaddr *addr, int ipv6);

#endif
