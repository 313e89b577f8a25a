/*
 * connections.h: the API listener's connections and their bounds in time
 * and number.  libmicrohttpd's own timeout is an idle timeout, which a
 * client sending a byte now and then resets forever (slowloris); here the
 * request head and then the body each have a deadline from when they are
 * awaited, and at capacity an idle connection makes room for a new one.
 */
#ifndef NILUS_CONNECTIONS_H
#define NILUS_CONNECTIONS_H

#include <microhttpd.h>

struct connection_limits
{
	unsigned int max;			/* --max-connections */
	double		header_timeout;	/* --header-timeout: the head, or the next one on keep-alive */
	double		body_timeout;	/* --body-timeout: the body, from the end of the head */
};

void		connections_init(const struct connection_limits *limits);

/* How many connections MHD must accept so that the shim can choose whom to close. */
unsigned int connections_accept_limit(void);

/* MHD_OPTION_NOTIFY_CONNECTION: tracks each connection from accept to close. */
void		connections_on_notify(void *cls, struct MHD_Connection *connection,
								  void **socket_context, enum MHD_ConnectionNotificationCode code);

/* The head is in: the body's deadline runs. */
void		connection_head_received(struct MHD_Connection *connection);
/* The whole request is in: no deadline while it is served. */
void		connection_request_received(struct MHD_Connection *connection);
/* The answer is out: the connection idles until its next head's deadline. */
void		connection_answered(struct MHD_Connection *connection);

/*
 * Shuts down (never closes: MHD closes them itself) the connections past
 * their deadline.  Cheap to call every loop turn.
 */
void		connections_sweep(void);

#endif
