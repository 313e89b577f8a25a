/*
 * request.h: the life of one API request, from its head to its logged
 * completion: the API listener's handler (http_conn.h).
 */
#ifndef NILUS_REQUEST_H
#define NILUS_REQUEST_H

#include <stddef.h>

#include "http_conn.h"

/* max_body: --max-body; docs_dir: --docs-dir. */
void		request_init(size_t max_body, const char *docs_dir);

/* The API listener's requests. */
extern const struct http_handler request_handler;

/* The calling loop's requests begun and not yet completed: its graceful stop waits for them. */
int			requests_in_flight(void);

#endif
