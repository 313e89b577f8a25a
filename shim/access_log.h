/*
 * access_log.h: one line per API request on stderr, buffered so that under
 * load one write carries many lines.  Each loop has its own buffer and
 * writes it whole, in turn with the other loops.  Lines
 * are text (the default) or one JSON object each (--log-format json).
 */
#ifndef NILUS_ACCESS_LOG_H
#define NILUS_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* A request id: the client's X-Request-Id when it is one of these, else 32 hex digits of ours. */
#define REQUEST_ID_MAX 128
#define REQUEST_ID_ALPHABET \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:+/=@"

enum access_log_format
{
	ACCESS_LOG_TEXT,
	ACCESS_LOG_JSON
};

struct access_entry
{
	const char *request_id;
	const char *client;			/* the peer's address; NULL = unknown */
	const char *method;
	const char *path;			/* as sent, still percent-encoded */
	const char *query;			/* as sent, secrets redacted; NULL = none */
	const char *tenant;			/* the path's tenant, decoded; NULL = none */
	int			status;			/* 0: no answer was sent */
	size_t		bytes;			/* of the answer's body */
	double		seconds;
	bool		aborted;		/* the connection ended before the answer was sent */
};

/* "text" or "json"; false for anything else.  Call once before serving. */
bool		access_log_init(const char *format);

void		access_log(const struct access_entry *entry);

/*
 * The request's id into id (REQUEST_ID_MAX + 1 bytes): offered when it is
 * 1 to REQUEST_ID_MAX characters of REQUEST_ID_ALPHABET, else a new one.
 */
void		access_log_request_id(const char *offered, char *id);

/* Writes the calling loop's buffered lines; the loop calls it once per turn. */
void		access_log_flush(void);

#endif
