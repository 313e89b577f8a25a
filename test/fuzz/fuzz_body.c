/*
 * fuzz_body.c: libFuzzer target over the JSON body checks: the body
 * arriving in pieces up to a small --max-body, its JSON well-formedness,
 * and the error the client would get, rendered.  The first input byte
 * chooses the piece size.  `make -C shim fuzz` runs it.
 */
#include <stdint.h>
#include <stdlib.h>

#include "body.h"
#include "errors.h"

#define MAX_BODY 65536

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
render(const struct refusal *refusal)
{
	size_t		len;
	char	   *text = error_body(refusal->status, refusal->code, refusal->message,
								  refusal->parameter[0] ? refusal->parameter : NULL, &len);

	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct body body = {0};
	struct refusal refusal;
	size_t		piece = size > 0 ? (size_t) data[0] + 1 : 1;
	bool		fits = true;

	for (size_t at = size > 0 ? 1 : 0; fits && at < size; at += piece)
		fits = body_append(&body, (const char *) data + at, size - at < piece ? size - at : piece,
						   MAX_BODY, &refusal);
	if (fits)
		fits = body_is_json(&body, &refusal);
	if (!fits)
		render(&refusal);
	body_free(&body);
	return 0;
}
