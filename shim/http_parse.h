/*
 * http_parse.h: HTTP/1.1 requests read strictly as RFC 9112 writes them:
 * the head (request line and header fields) and a chunked body.  Pure
 * functions over bytes, with no I/O and no allocation, so that the
 * fuzzer drives exactly what the connections run.
 *
 * Whatever two parties could read differently is refused rather than
 * guessed at (request smuggling): obs-fold, a bare CR, a space before a
 * field's colon, Content-Length twice or beside Transfer-Encoding, any
 * transfer coding but chunked, a malformed chunk line.
 */
#ifndef NILUS_HTTP_PARSE_H
#define NILUS_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEAD (32 * 1024)	/* request line and fields (as nginx's 4 x 8k buffers) */
#define HTTP_MAX_TARGET 8192	/* path and query */
#define HTTP_MAX_FIELDS 100		/* Apache's LimitRequestFields */

/* A refusal of the parser: the status, the SPEC's code (NULL = the status's) and why. */
struct http_error
{
	int			status;
	const char *code;
	const char *message;
};

struct http_field
{
	const char *name;
	const char *value;			/* without leading and trailing blanks */
};

enum http_framing
{
	HTTP_BODY_NONE,
	HTTP_BODY_LENGTH,
	HTTP_BODY_CHUNKED
};

/* A parsed head: every string is NUL-terminated inside the parsed buffer. */
struct http_head
{
	const char *method;
	const char *path;			/* of the origin-form target (as sent: percent-encoded) */
	const char *query;			/* what followed its '?' (as sent); NULL = no '?' */
	int			minor_version;	/* HTTP/1.0 or HTTP/1.1 */
	struct http_field fields[HTTP_MAX_FIELDS];
	size_t		nfields;
	enum http_framing framing;
	uint64_t	content_length; /* HTTP_BODY_LENGTH only */
	bool		keep_alive;		/* what the version and Connection ask for */
	bool		expect_continue;
};

/*
 * Where the head in buf[0..len) ends (the length up to and with its empty
 * line), or 0 while it is incomplete.  *scanned carries the progress from
 * call to call (0 at first), so that a head trickling in is scanned once.
 */
size_t		http_head_end(const char *buf, size_t len, size_t *scanned);

/* The refusal of a head longer than HTTP_MAX_HEAD, from its first len bytes (414 or 431). */
void		http_head_too_large(const char *buf, size_t len, struct http_error *error);

/*
 * Parses the complete head buf[0..len) (as http_head_end measured it) in
 * place: NULs are written into buf.  False with the refusal; the
 * connection must close after it, since where the request ends is unknown.
 * Even then head->fields[0..nfields) are the well-formed fields read
 * before the fault (so that its answer can still echo one).
 */
bool		http_parse_head(char *buf, size_t len, struct http_head *head, struct http_error *error);

/* The value of the first field of that name (case-insensitive), or NULL. */
const char *http_head_field(const struct http_head *head, const char *name);

/* A chunked body's decoder: zero it before the body's first byte. */
struct http_chunks
{
	int			state;
	uint64_t	left;			/* bytes of the current chunk's data still to come */
	unsigned int digits;		/* of the chunk size read so far */
	size_t		line_bytes;		/* of the current extension or trailer section */
};

enum http_chunks_result
{
	HTTP_CHUNKS_MORE,			/* all of the input was taken; the body goes on */
	HTTP_CHUNKS_DONE,			/* the body (and its trailers) ended */
	HTTP_CHUNKS_ERROR
};

/*
 * Decodes in[0..len): moves the data it found to the start of in (the
 * framing between chunks is dropped), sets *data_len to its length and
 * *used to the input taken (all of it, or up to the body's end).
 */
enum http_chunks_result http_chunks_decode(struct http_chunks *chunks, char *in, size_t len,
										   size_t *used, size_t *data_len,
										   struct http_error *error);

/* The reason phrase of a status ("Not Found"), "" for one not known. */
const char *http_reason(int status);

#endif
