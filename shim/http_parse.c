/*
 * http_parse.c: RFC 9112 request heads and chunked bodies; see
 * http_parse.h.  Lines end with CRLF; a head may also end its lines with
 * a bare LF (RFC 9112 2.2 allows it, nginx does it), chunk lines may not,
 * since a framing line read two ways is how smuggling works.
 */
#include "http_parse.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 tchar: methods and field names. */
static bool
is_tchar(unsigned char c)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";

	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c != '\0' && strchr(tchar, c) != NULL);
}

/* A field value's byte: visible, obs-text, space or tab; never a control. */
static bool
is_field_byte(unsigned char c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

static bool
fail(struct http_error *error, int status, const char *code, const char *message)
{
	error->status = status;
	error->code = code;
	error->message = message;
	return false;
}

static bool
bad_request(struct http_error *error, const char *message)
{
	return fail(error, 400, "bad_request", message);
}

/* ---- finding the end of the head ---- */

/* The empty lines before the request line, which RFC 9112 2.2 lets a server skip. */
static size_t
leading_blank(const char *buf, size_t len)
{
	size_t		n = 0;

	while (n < len && (buf[n] == '\r' || buf[n] == '\n'))
		n++;
	return n;
}

size_t
http_head_end(const char *buf, size_t len, size_t *scanned)
{
	size_t		start = leading_blank(buf, len);

	for (size_t i = *scanned > start ? *scanned : start; i < len; i++)
	{
		if (buf[i] != '\n')
			continue;
		if (i >= start + 1 && buf[i - 1] == '\n')
			return i + 1;
		if (i >= start + 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')
			return i + 1;
	}
	/* Step back over a line end that may be half in: "\n\r" waits for its "\n". */
	*scanned = len >= 2 ? len - 2 : 0;
	return 0;
}

void
http_head_too_large(const char *buf, size_t len, struct http_error *error)
{
	size_t		blank = leading_blank(buf, len);

	if (!memchr(buf + blank, '\n', len - blank))
		fail(error, 414, NULL, "the request line is longer than 32768 bytes");
	else
		fail(error, 431, NULL,
			 "the request line and header fields are larger than 32768 bytes");
}

/* ---- the lines of a head ---- */

/*
 * The next line of the head from *pos, NUL-terminated in place, its line
 * end removed (it may hold NULs of its own: *line_len counts them); NULL
 * when a CR stands anywhere but before the LF.
 */
static char *
next_line(char *buf, size_t len, size_t *pos, size_t *line_len, struct http_error *error)
{
	char	   *line = buf + *pos;
	char	   *lf = memchr(line, '\n', len - *pos);
	char	   *end = lf;

	if (!lf)
		return bad_request(error, "the request head is not terminated"), NULL;
	if (end > line && end[-1] == '\r')
		end--;
	if (memchr(line, '\r', (size_t) (end - line)))
		return bad_request(error, "the request head contains a bare CR"), NULL;
	*end = '\0';
	*pos = (size_t) (lf - buf) + 1;
	*line_len = (size_t) (end - line);
	return line;
}

static bool
parse_version(const char *v, struct http_head *head, struct http_error *error)
{
	bool		shaped = strncmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' &&
		v[6] == '.' && v[7] >= '0' && v[7] <= '9' && v[8] == '\0';

	if (!shaped)
		return bad_request(error, "the request line is malformed: METHOD TARGET HTTP/1.1");
	if (v[5] != '1')
		return fail(error, 505, NULL,
					"only HTTP versions 1.0 and 1.1 are supported");
	/* A later 1.x is answered as 1.1 (RFC 9110 6.2). */
	head->minor_version = v[7] == '0' ? 0 : 1;
	return true;
}

/* An absolute-form target (a proxy's) becomes the origin-form one. */
static const char *
origin_form(char *target)
{
	char	   *authority;

	if (target[0] == '/' || strcmp(target, "*") == 0)
		return target;
	if (strncasecmp(target, "http://", 7) != 0 && strncasecmp(target, "https://", 8) != 0)
		return NULL;
	authority = strstr(target, "://") + 3;
	authority += strcspn(authority, "/?");
	if (*authority == '/')
		return authority;
	return *authority == '\0' ? "/" : NULL;
}

static bool
parse_target(char *target, size_t len, struct http_head *head, struct http_error *error)
{
	char	   *query;

	if (len > HTTP_MAX_TARGET)
		return fail(error, 414, NULL, "the request URI is longer than 8192 bytes");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) target[i] <= ' ' || (unsigned char) target[i] >= 0x7f)
			return bad_request(error, target[i] == '\0'
							   ? "the request target contains a NUL byte"
							   : "the request target contains a space or a control byte");
	query = memchr(target, '?', len);
	head->query = query ? query + 1 : NULL;
	if (query)
		*query = '\0';
	head->path = origin_form(target);
	if (!head->path)
		return bad_request(error, "the request target must be a path (or an http URL)");
	return true;
}

/* METHOD SP TARGET SP HTTP/x.y, single spaces (RFC 9112 3). */
static bool
parse_request_line(char *line, size_t len, struct http_head *head, struct http_error *error)
{
	char	   *end = line + len;
	char	   *sp1 = memchr(line, ' ', len);
	char	   *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t) (end - sp1 - 1)) : NULL;
	char	   *last = end;

	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1)
	{
		/* A NUL cut the line short: say so rather than "malformed". */
		if (memchr(line, '\0', len))
			return bad_request(error, "the request target contains a NUL byte");
		return bad_request(error, "the request line is malformed: METHOD TARGET HTTP/1.1");
	}
	/* Spaces inside the target belong to it: the version is after the last space. */
	while (last[-1] != ' ')
		last--;
	last--;
	*sp1 = '\0';
	*last = '\0';
	for (const char *m = line; *m; m++)
		if (!is_tchar((unsigned char) *m))
			return bad_request(error, "the request method is not a token");
	head->method = line;
	return parse_version(last + 1, head, error) &&
		parse_target(sp1 + 1, (size_t) (last - sp1 - 1), head, error);
}

/* name ":" OWS value OWS, the name a token right up to its colon (RFC 9112 5). */
static bool
parse_field(char *line, size_t len, struct http_field *field, struct http_error *error)
{
	size_t		name_len = 0;
	char	   *value;
	char	   *end = line + len;

	if (line[0] == ' ' || line[0] == '\t')
		return bad_request(error, "a header field is folded over lines (obs-fold)");
	while (name_len < len && is_tchar((unsigned char) line[name_len]))
		name_len++;
	if (!memchr(line, ':', len))
		return bad_request(error, "a header line has no colon");
	if (line[name_len] != ':' || name_len == 0)
		return bad_request(error, "a header name is not a token (no space may precede its colon)");
	line[name_len] = '\0';
	value = line + name_len + 1;
	while (value < end && (*value == ' ' || *value == '\t'))
		value++;
	while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *v = value; v < end; v++)
		if (!is_field_byte((unsigned char) *v))
			return bad_request(error, "a header value contains a control byte");
	*end = '\0';
	field->name = line;
	field->value = value;
	return true;
}

/* ---- what the fields say ---- */

const char *
http_head_field(const struct http_head *head, const char *name)
{
	for (size_t i = 0; i < head->nfields; i++)
		if (strcasecmp(head->fields[i].name, name) == 0)
			return head->fields[i].value;
	return NULL;
}

static size_t
field_count(const struct http_head *head, const char *name)
{
	size_t		n = 0;

	for (size_t i = 0; i < head->nfields; i++)
		n += strcasecmp(head->fields[i].name, name) == 0;
	return n;
}

/* Whether a comma-separated list (Connection) holds the token. */
static bool
list_has(const char *list, const char *token)
{
	size_t		len = strlen(token);

	while (list && *list)
	{
		list += strspn(list, " \t,");
		if (strncasecmp(list, token, len) == 0 && strchr(" \t,", list[len]) != NULL)
			return true;
		list = strchr(list, ',');
	}
	return false;
}

static bool
parse_content_length(const char *value, struct http_head *head, struct http_error *error)
{
	size_t		digits = strspn(value, "0123456789");
	uint64_t	n = 0;

	if (digits == 0 || value[digits] != '\0')
		return bad_request(error, "Content-Length is not a number");
	if (digits > 18)
		return fail(error, 413, NULL, "Content-Length is larger than any body this server takes");
	for (size_t i = 0; i < digits; i++)
		n = n * 10 + (uint64_t) (value[i] - '0');
	head->framing = HTTP_BODY_LENGTH;
	head->content_length = n;
	return true;
}

/* Where the body ends, by RFC 9112 6.3, refusing every doubt. */
static bool
judge_framing(struct http_head *head, struct http_error *error)
{
	size_t		lengths = field_count(head, "Content-Length");
	size_t		codings = field_count(head, "Transfer-Encoding");
	const char *coding = http_head_field(head, "Transfer-Encoding");

	if (lengths > 1)
		return bad_request(error, "Content-Length is given more than once");
	if (codings > 1)
		return bad_request(error, "Transfer-Encoding is given more than once");
	if (codings && lengths)
		return bad_request(error, "Content-Length and Transfer-Encoding cannot be sent together");
	if (coding && strcasecmp(coding, "chunked") != 0)
		return fail(error, 501, NULL, "the only transfer coding understood is chunked");
	if (coding)
		head->framing = HTTP_BODY_CHUNKED;
	else if (lengths)
		return parse_content_length(http_head_field(head, "Content-Length"), head, error);
	return true;
}

static bool
judge_fields(struct http_head *head, struct http_error *error)
{
	const char *expect = http_head_field(head, "Expect");
	const char *connection = http_head_field(head, "Connection");
	size_t		hosts = field_count(head, "Host");

	if (hosts > 1 || (hosts == 0 && head->minor_version == 1))
		return bad_request(error, "a request must have exactly one Host header (HTTP/1.1)");
	if (!judge_framing(head, error))
		return false;
	if (expect && strcasecmp(expect, "100-continue") != 0)
		return fail(error, 417, NULL, "the only expectation understood is 100-continue");
	head->expect_continue = expect != NULL && head->minor_version == 1;
	head->keep_alive = head->minor_version == 1 ? !list_has(connection, "close")
		: list_has(connection, "keep-alive");
	return true;
}

bool
http_parse_head(char *buf, size_t len, struct http_head *head, struct http_error *error)
{
	size_t		pos = leading_blank(buf, len);
	size_t		line_len;
	char	   *line = next_line(buf, len, &pos, &line_len, error);

	head->nfields = 0;
	head->framing = HTTP_BODY_NONE;
	head->content_length = 0;
	if (!line || !parse_request_line(line, line_len, head, error))
		return false;
	while ((line = next_line(buf, len, &pos, &line_len, error)) != NULL && line_len > 0)
	{
		if (head->nfields == HTTP_MAX_FIELDS)
			return fail(error, 431, NULL,
						"the request has more than 100 header fields");
		if (!parse_field(line, line_len, &head->fields[head->nfields], error))
			return false;
		head->nfields++;
	}
	return line != NULL && judge_fields(head, error);
}

/* ---- chunked bodies (RFC 9112 7.1) ---- */

enum chunk_state
{
	CHUNK_SIZE,					/* hex digits */
	CHUNK_EXTENSION,			/* after the size, to the line's CR */
	CHUNK_SIZE_LF,
	CHUNK_DATA,
	CHUNK_DATA_CR,
	CHUNK_DATA_LF,
	CHUNK_TRAILER,				/* at the start of a trailer line (or the final CRLF) */
	CHUNK_TRAILER_LINE,
	CHUNK_TRAILER_LF,
	CHUNK_FINAL_LF,
	CHUNK_END
};

#define MAX_CHUNK_EXTENSION 1024
#define MAX_TRAILERS 8192
#define MAX_SIZE_DIGITS 15		/* below 2^60: never wraps */

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool
take_size_byte(struct http_chunks *c, unsigned char byte, struct http_error *error)
{
	int			digit = hex_value(byte);

	if (digit >= 0)
	{
		if (++c->digits > MAX_SIZE_DIGITS)
			return fail(error, 413, NULL, "a chunk is larger than any body this server takes");
		c->left = c->left * 16 + (uint64_t) digit;
		return true;
	}
	if (c->digits == 0)
		return bad_request(error, "a chunk size is not a hexadecimal number");
	if (byte == '\r')
		c->state = CHUNK_SIZE_LF;
	else if (byte == ';' || byte == ' ' || byte == '\t')
		c->state = CHUNK_EXTENSION, c->line_bytes = 1;
	else
		return bad_request(error, "a chunk size is not a hexadecimal number");
	return true;
}

static bool
take_extension_byte(struct http_chunks *c, unsigned char byte, struct http_error *error)
{
	if (byte == '\r')
		c->state = CHUNK_SIZE_LF;
	else if (!is_field_byte(byte))
		return bad_request(error, "a chunk extension contains a control byte");
	else if (++c->line_bytes > MAX_CHUNK_EXTENSION)
		return bad_request(error, "a chunk extension is longer than 1024 bytes");
	return true;
}

static bool
expect_byte(struct http_chunks *c, unsigned char byte, unsigned char wanted, int next,
			struct http_error *error)
{
	if (byte != wanted)
		return bad_request(error, "a chunk is not framed by CRLF");
	c->state = next;
	return true;
}

/* The line ends after a size: data follows, or the trailers after the last chunk. */
static void
size_line_done(struct http_chunks *c)
{
	c->state = c->left > 0 ? CHUNK_DATA : CHUNK_TRAILER;
	c->digits = 0;
	c->line_bytes = 0;
}

static bool
take_trailer_byte(struct http_chunks *c, unsigned char byte, struct http_error *error)
{
	if (++c->line_bytes > MAX_TRAILERS)
		return fail(error, 431, NULL, "the trailer fields are larger than 8192 bytes");
	if (c->state == CHUNK_TRAILER)
	{
		if (byte == '\r')
			c->state = CHUNK_FINAL_LF;
		else if (byte == ' ' || byte == '\t' || !is_tchar(byte))
			return bad_request(error, "a trailer field is malformed");
		else
			c->state = CHUNK_TRAILER_LINE;
		return true;
	}
	if (byte == '\r')
		c->state = CHUNK_TRAILER_LF;
	else if (!is_field_byte(byte))
		return bad_request(error, "a trailer field contains a control byte");
	return true;
}

/* One byte of framing (anything but chunk data). */
static bool
take_framing_byte(struct http_chunks *c, unsigned char byte, struct http_error *error)
{
	switch (c->state)
	{
		case CHUNK_SIZE:
			return take_size_byte(c, byte, error);
		case CHUNK_EXTENSION:
			return take_extension_byte(c, byte, error);
		case CHUNK_SIZE_LF:
			if (byte != '\n')
				return bad_request(error, "a chunk is not framed by CRLF");
			size_line_done(c);
			return true;
		case CHUNK_DATA_CR:
			return expect_byte(c, byte, '\r', CHUNK_DATA_LF, error);
		case CHUNK_DATA_LF:
			return expect_byte(c, byte, '\n', CHUNK_SIZE, error);
		case CHUNK_TRAILER_LF:
			return expect_byte(c, byte, '\n', CHUNK_TRAILER, error);
		case CHUNK_FINAL_LF:
			return expect_byte(c, byte, '\n', CHUNK_END, error);
		default:
			return take_trailer_byte(c, byte, error);
	}
}

enum http_chunks_result
http_chunks_decode(struct http_chunks *c, char *in, size_t len, size_t *used, size_t *data_len,
				   struct http_error *error)
{
	size_t		i = 0;
	size_t		out = 0;

	while (i < len && c->state != CHUNK_END)
	{
		if (c->state == CHUNK_DATA)
		{
			size_t		n = len - i < c->left ? len - i : (size_t) c->left;

			memmove(in + out, in + i, n);
			out += n;
			i += n;
			c->left -= n;
			if (c->left == 0)
				c->state = CHUNK_DATA_CR;
			continue;
		}
		if (!take_framing_byte(c, (unsigned char) in[i++], error))
			return HTTP_CHUNKS_ERROR;
	}
	*used = i;
	*data_len = out;
	return c->state == CHUNK_END ? HTTP_CHUNKS_DONE : HTTP_CHUNKS_MORE;
}

/* ---- reason phrases ---- */

const char *
http_reason(int status)
{
	static const struct
	{
		int			status;
		const char *reason;
	}			reasons[] = {
		{100, "Continue"}, {200, "OK"}, {201, "Created"}, {204, "No Content"},
		{400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
		{405, "Method Not Allowed"}, {408, "Request Timeout"}, {409, "Conflict"},
		{413, "Content Too Large"}, {414, "URI Too Long"}, {415, "Unsupported Media Type"},
		{417, "Expectation Failed"}, {422, "Unprocessable Content"},
		{431, "Request Header Fields Too Large"}, {500, "Internal Server Error"},
		{501, "Not Implemented"}, {503, "Service Unavailable"}, {504, "Gateway Timeout"},
		{505, "HTTP Version Not Supported"},
	};

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "";
}
