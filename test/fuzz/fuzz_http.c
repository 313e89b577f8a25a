/*
 * fuzz_http.c: libFuzzer target over the shim's HTTP/1.1 parser
 * (shim/http_parse.c): finding the end of a head as it trickles in,
 * parsing it, and decoding a chunked body fed in pieces of every size.
 * The input is the bytes a client sends; its first byte sets the size of
 * the pieces.  `make -C shim fuzz` runs it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The head's end as http_head_end finds it when the bytes come step at a time. */
static size_t
trickled_head_end(const char *buf, size_t len, size_t step)
{
	size_t		scanned = 0;
	size_t		end = 0;

	for (size_t have = 0; have < len && end == 0;)
	{
		have = have + step < len ? have + step : len;
		end = http_head_end(buf, have, &scanned);
	}
	return end;
}

static void
decode_body(char *body, size_t len, size_t step)
{
	struct http_chunks chunks = {0};
	struct http_error error;

	while (len > 0)
	{
		size_t		piece = step < len ? step : len;
		size_t		used, data_len;
		enum http_chunks_result result = http_chunks_decode(&chunks, body, piece, &used,
															&data_len, &error);

		if (result == HTTP_CHUNKS_ERROR)
		{
			if (error.status < 400 || error.status > 599 || !error.message)
				abort();
			return;
		}
		if (used > piece || data_len > used)
			abort();
		if (result == HTTP_CHUNKS_DONE)
			return;
		body += used;
		len -= used;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		step = size > 0 ? (size_t) data[0] % 16 + 1 : 1;
	char	   *buf;
	size_t		end;
	struct http_head head;
	struct http_error error;

	if (size < 2)
		return 0;
	buf = malloc(size - 1);
	memcpy(buf, data + 1, size - 1);
	end = trickled_head_end(buf, size - 1, step);
	if (end != http_head_end(buf, size - 1, &(size_t) {0}))
		abort();
	if (end > 0 && http_parse_head(buf, end, &head, &error))
	{
		if (!head.method || !head.path || head.nfields > HTTP_MAX_FIELDS)
			abort();
		http_head_field(&head, "Content-Type");
		if (head.framing == HTTP_BODY_CHUNKED)
			decode_body(buf + end, size - 1 - end, step);
	}
	else if (end > 0 && (error.status < 400 || error.status > 599 || !error.message))
		abort();
	free(buf);
	return 0;
}
