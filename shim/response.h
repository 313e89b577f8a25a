/*
 * response.h: the responses every listener sends: owned bodies, the SPEC's
 * JSON errors, and queueing them on a connection.  The bottom of the HTTP
 * side: it knows libmicrohttpd and the error format, nothing of routes,
 * the pool or requests.
 */
#ifndef NILUS_RESPONSE_H
#define NILUS_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#define JSON_TYPE "application/json; charset=utf-8"

/* An error answer decided before its response is made. */
struct refusal
{
	int			status;
	const char *code;			/* NULL = error_code(status) */
	char		message[320];
	char		parameter[104]; /* "" = not known */
};

/* Fills the refusal; returns false, so that a check can return refuse(...). */
bool		refuse(struct refusal *refusal, int status, const char *code, const char *parameter,
				   const char *fmt,...) __attribute__((format(printf, 5, 6)));

/* A response with an owned body; free_fn(free_cls) runs when MHD is done with it. */
struct MHD_Response *response_owned(const char *content_type, const char *body, size_t len,
									MHD_ContentReaderFreeCallback free_fn, void *free_cls);
/*
 * A response read from the file, from its start (pread: the file offset is
 * not used); free_fn((void *) (intptr_t) fd) runs when MHD is done with it
 * and must close the file, also when NULL is returned.
 */
struct MHD_Response *response_file(const char *content_type, int fd, size_t len,
								   MHD_ContentReaderFreeCallback free_fn);
/* A response whose body lives as long as the process (a page, the OpenAPI document). */
struct MHD_Response *response_static(const char *content_type, const char *body, size_t len);
/* A JSON error response in the SPEC's format. */
struct MHD_Response *response_error(int status, const char *code, const char *message,
									const char *parameter);
struct MHD_Response *response_refusal(const struct refusal *refusal);
/* A 405 with its Allow header. */
struct MHD_Response *response_not_allowed(const char *message, const char *allow);

/* From now on every response asks the client to close: the process is stopping. */
void		responses_close_connections(void);

/* Queues and releases the response; false when MHD refused it. */
bool		reply(struct MHD_Connection *connection, int status, struct MHD_Response *response);

#endif
