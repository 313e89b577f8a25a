/*
 * body.h: a request's JSON body: what its headers promise, its bytes up to
 * --max-body, and whether it is JSON at all.
 */
#ifndef NILUS_BODY_H
#define NILUS_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "http_parse.h"
#include "response.h"

/*
 * A body this large takes milliseconds to handle, and would hold up what
 * waits behind it: its JSON check runs off the loop (request.c), its call
 * on a database connection that no other call joins (db_flight.c).
 */
#define LARGE_BODY (256 * 1024)

struct body
{
	char	   *data;			/* NUL-terminated; NULL until the first byte */
	size_t		len;
	size_t		cap;
};

/* What the headers already show to be wrong (too long, not JSON); false with the refusal. */
bool		body_headers_fit(const struct http_head *head, size_t max_body,
							 struct refusal *refusal);

/* False with the refusal when the body outgrew max_body or memory. */
bool		body_append(struct body *body, const char *data, size_t size, size_t max_body,
						struct refusal *refusal);

/* False with the refusal when the body is empty or not JSON. */
bool		body_is_json(const struct body *body, struct refusal *refusal);

void		body_free(struct body *body);

#endif
