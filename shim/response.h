/*
 * response.h: the responses every listener sends: owned bodies, files, the
 * JSON errors, and their head as it goes on the wire.  The bottom
 * of the HTTP side: it knows the error format, nothing of routes, the
 * pool, connections or requests.
 */
#ifndef NILUS_RESPONSE_H
#define NILUS_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

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

typedef void (*response_release_fn) (void *cls);

/* A status, a few header fields and a body in memory or in a file. */
struct response
{
	int			status;
	const char *content_type;	/* static text */
	char		fields[512];	/* further "Name: value\r\n" lines (X-Request-Id: up to 144) */
	size_t		fields_len;
	bool		close;			/* the connection closes after it */
	const char *body;			/* NULL when the body is in file */
	size_t		len;
	int			file;			/* >= 0: the body is read from this file (pread, from 0) */
	response_release_fn release;	/* frees the body (or closes the file); may be NULL */
	void	   *release_cls;
};

/*
 * A response with an owned body; release(release_cls) runs when the
 * response is freed, also when NULL is returned (no memory).
 */
struct response *response_owned(int status, const char *content_type, const char *body,
								size_t len, response_release_fn release, void *release_cls);
/*
 * A response read from the file; release((void *) (intptr_t) fd) runs when
 * it is freed and must close the file, also when NULL is returned.
 */
struct response *response_file(int status, const char *content_type, int fd, size_t len,
							   response_release_fn release);
/* A response whose body lives as long as the process (a page, the OpenAPI document). */
struct response *response_static(int status, const char *content_type, const char *body,
								 size_t len);
/* A JSON error response in the format of doc/errors.md. */
struct response *response_error(int status, const char *code, const char *message,
								const char *parameter);
struct response *response_refusal(const struct refusal *refusal);
/* An empty answer with a Location header. */
struct response *response_redirect(int status, const char *location);
/* A 405 with its Allow header. */
struct response *response_not_allowed(const char *message, const char *allow);

/* Adds "name: value" (dropped when the room is full: only short fixed fields are added). */
void		response_add_field(struct response *response, const char *name, const char *value);

void		response_free(struct response *response);

/* From now on every response asks the client to close: the process is stopping. */
void		responses_close_connections(void);
bool		responses_closing(void);

/*
 * Writes the status line and header fields, with the empty line, into buf;
 * returns their length (0 when size is too small).  keep_alive: whether the
 * connection stays open; http10: the client spoke HTTP/1.0.
 */
size_t		response_head(const struct response *response, bool keep_alive, bool http10,
						  char *buf, size_t size);

#endif
