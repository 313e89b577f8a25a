/*
 * http_conn.h: the shim's own HTTP/1.1 server layer: a listener's
 * connections on this thread's event loop (loop.h), from accept to close.
 * Requests are read with http_parse.c, one at a time per connection and
 * answered in order (pipelined ones wait in the read buffer); every error
 * of the protocol is answered here in the SPEC's JSON format.  What a
 * request means is the handler's business.
 */
#ifndef NILUS_HTTP_CONN_H
#define NILUS_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "connections.h"
#include "http_parse.h"
#include "response.h"
#include "tls.h"

struct http_conn;
struct http_server;

/*
 * What a listener does with requests.  Every request gets exactly one
 * http_conn_answer, at any time from begin on (also before its body is
 * read: the rest of the body is then dropped), and then exactly one done.
 */
struct http_handler
{
	/* The head is in (valid until done).  Returns the request, or NULL without memory. */
	void	   *(*begin) (struct http_conn *conn, const struct http_head *head);
	/* A piece of the body, until the request is answered. */
	void		(*body) (void *request, const char *data, size_t len);
	/* The whole body is in and the request is not answered yet. */
	void		(*end) (void *request);
	/* The answer (of that status; 0 = none) went out (delivered) or the connection was lost. */
	void		(*done) (void *request, int status, bool delivered);
	/* The connection layer answered a malformed or too slow request itself (for the log). */
	void		(*refused) (struct http_conn *conn, int status);
};

struct http_server_config
{
	int			listener;		/* a listening socket (http_listen) */
	const struct tls_config *tls;	/* NULL = plain HTTP */
	const struct http_handler *handler;
	struct connection_quota *quota;	/* shared by the listener's loops; outlives the server */
};

/*
 * A listening socket on addr, non-blocking; with reuse_port, several loops
 * can each have one on the same address (SO_REUSEPORT).  -1 on failure
 * (errno tells why).
 */
int			http_listen(const struct sockaddr *addr, bool reuse_port);

/* Serves the listener on the calling thread's loop; NULL without memory. */
struct http_server *http_server_start(const struct http_server_config *config);

/* Looks at the connections' deadlines; the loop calls it every turn. */
void		http_server_tick(struct http_server *server);

/*
 * The stop: no more connections are accepted (the listener is closed)
 * and the idle ones are closed; answers from now on close theirs.
 */
void		http_server_stop_accepting(struct http_server *server);

/* Closes every connection; the requests still unanswered are done, not delivered. */
void		http_server_free(struct http_server *server);

/* Answers the connection's current request (takes the response; NULL = no memory: close). */
void		http_conn_answer(struct http_conn *conn, struct response *response);

/*
 * The current request's id, sent back as X-Request-Id with its answer
 * (every answer, the connection layer's own refusals too): the client's
 * X-Request-Id when the head was parsed far enough to hold a sane one
 * (access_log_request_id), else one of ours.  Valid until done.
 */
const char *http_conn_request_id(struct http_conn *conn);

/* The client's address as text; "" when unknown. */
const char *http_conn_client(const struct http_conn *conn);

#endif
