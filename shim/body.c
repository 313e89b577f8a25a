/*
 * body.c: request bodies; see body.h.  Only well-formedness is judged
 * here: the SQL function judges the content.
 */
#include "body.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define FIRST_CAPACITY 4096

static bool
json_media_type(const char *content_type)
{
	static const char json[] = "application/json";

	/* Parameters may follow; strchr also finds the final NUL: the bare type. */
	return content_type && strncasecmp(content_type, json, sizeof(json) - 1) == 0 &&
		strchr("; \t", content_type[sizeof(json) - 1]) != NULL;
}

static bool
refuse_too_large(struct refusal *refusal, size_t max_body)
{
	return refuse(refusal, 413, NULL, NULL, "the request body is larger than %zu bytes", max_body);
}

bool
body_headers_fit(const struct http_head *head, size_t max_body, struct refusal *refusal)
{
	if (head->framing == HTTP_BODY_LENGTH && head->content_length > max_body)
		return refuse_too_large(refusal, max_body);
	if (!json_media_type(http_head_field(head, "Content-Type")))
		return refuse(refusal, 415, NULL, NULL,
					  "the request body must be JSON sent with Content-Type: application/json");
	return true;
}

/* Doubles the capacity up to what is needed, never past max_body and its NUL. */
static bool
grow(struct body *body, size_t need, size_t max_body)
{
	size_t		cap = body->cap ? body->cap * 2 : FIRST_CAPACITY;
	char	   *grown;

	cap = cap < need ? need : cap;
	cap = cap > max_body + 1 ? max_body + 1 : cap;
	grown = realloc(body->data, cap);
	if (!grown)
		return false;
	body->data = grown;
	body->cap = cap;
	return true;
}

bool
body_append(struct body *body, const char *data, size_t size, size_t max_body,
			struct refusal *refusal)
{
	size_t		need = body->len + size + 1;

	if (body->len + size > max_body)
		return refuse_too_large(refusal, max_body);
	if (need > body->cap && !grow(body, need, max_body))
		return refuse(refusal, 503, NULL, NULL, "out of memory; try again");
	memcpy(body->data + body->len, data, size);
	body->len += size;
	body->data[body->len] = '\0';
	return true;
}

bool
body_is_json(const struct body *body, struct refusal *refusal)
{
	json_error_t error;
	json_t	   *parsed;

	if (body->len == 0)
		return refuse(refusal, 400, "bad_request", NULL, "a JSON request body is required");
	/* A number too large for jansson is still JSON: PostgreSQL's numeric takes it. */
	parsed = json_loadb(body->data, body->len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &error);
	if (!parsed && json_error_code(&error) != json_error_numeric_overflow)
		return refuse(refusal, 400, "bad_request", NULL,
					  "the request body is not valid JSON: %s (line %d, column %d)",
					  json_error_code(&error) == json_error_null_character
					  ? "\\u0000 cannot be stored in a string" : error.text,
					  error.line, error.column);
	json_decref(parsed);
	return true;
}

void
body_free(struct body *body)
{
	free(body->data);
	memset(body, 0, sizeof(*body));
}
