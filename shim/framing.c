/*
 * framing.c: the request's framing headers; see framing.h.  MHD takes the
 * first Content-Length and lets Transfer-Encoding win over it silently; a
 * proxy in front may take another, so any doubt is a refusal (as nginx
 * and HAProxy do).
 */
#include "framing.h"

#include <string.h>
#include <strings.h>

struct framing
{
	unsigned int lengths;		/* Content-Length headers */
	unsigned int codings;		/* Transfer-Encoding headers */
	const char *coding;
	const char *expect;
	bool		bad_name;
};

/* RFC 9110 tchar: what a field name is made of (no space before the colon). */
static bool
is_token(const char *s, size_t len)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\0' || !strchr(tchar, s[i]))
			return false;
	return true;
}

static enum MHD_Result
on_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
		  const char *value, size_t value_size)
{
	struct framing *f = cls;

	(void) kind, (void) value_size;
	if (!is_token(key, key_size))
		f->bad_name = true;
	else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->lengths++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		f->codings++, f->coding = value;
	else if (strcasecmp(key, MHD_HTTP_HEADER_EXPECT) == 0)
		f->expect = value;
	return MHD_YES;
}

bool
framing_ok(struct MHD_Connection *connection, struct refusal *refusal)
{
	struct framing f = {0};

	MHD_get_connection_values_n(connection, MHD_HEADER_KIND, on_header, &f);
	if (f.bad_name)
		return refuse(refusal, 400, "bad_request", NULL,
					  "a header name is not a token (no space may precede its colon)");
	if (f.lengths > 1)
		return refuse(refusal, 400, "bad_request", NULL, "Content-Length is given more than once");
	if (f.codings > 1)
		return refuse(refusal, 400, "bad_request", NULL,
					  "Transfer-Encoding is given more than once");
	if (f.codings && f.lengths)
		return refuse(refusal, 400, "bad_request", NULL,
					  "Content-Length and Transfer-Encoding cannot be sent together");
	if (f.coding && strcasecmp(f.coding, "chunked") != 0)
		return refuse(refusal, 501, NULL, NULL,
					  "the only transfer coding understood is chunked");
	if (f.expect && strcasecmp(f.expect, "100-continue") != 0)
		return refuse(refusal, 417, NULL, NULL, "the only expectation understood is 100-continue");
	return true;
}
