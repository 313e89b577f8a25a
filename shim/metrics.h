/*
 * metrics.h: counters and histograms kept lock-free by the request paths,
 * and the second listener that exposes them (/metrics, /health, /readiness).
 */
#ifndef NILUS_METRICS_H
#define NILUS_METRICS_H

#include <stddef.h>
#include <sys/socket.h>

struct MHD_Daemon;

/* The route label of requests that match no route. */
#define METRICS_UNMATCHED ((size_t) -1)

enum db_error_kind
{
	DB_ERROR_CONNECT,			/* could not connect */
	DB_ERROR_LOST,				/* the connection broke during a request */
	DB_ERROR_CLIENT,			/* the database refused the request's values or rights (4xx) */
	DB_ERROR_SERVER,			/* any other database error (5xx) */
	DB_ERROR_KINDS
};

double		monotonic_seconds(void);

/* slot: route_pattern_slot() or METRICS_UNMATCHED. */
void		metrics_request(size_t slot, const char *method, int status, double seconds);
void		metrics_db_roundtrip(double seconds);
void		metrics_db_error(enum db_error_kind kind);
void		metrics_db_reconnect(void);

struct MHD_Daemon *metrics_start(const struct sockaddr *addr, int ipv6);

#endif
