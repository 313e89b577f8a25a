/*
 * response.c: the responses every listener sends; see response.h.
 */
#include "response.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "http_parse.h"

/* Set by the API's loop thread, read by the metrics listener's thread too. */
static atomic_bool closing;

static struct response *
response_new(int status, const char *content_type, response_release_fn release, void *cls)
{
	struct response *response = malloc(sizeof(*response));

	if (!response)
	{
		if (release)
			release(cls);
		return NULL;
	}
	response->status = status;
	response->content_type = content_type;
	response->fields_len = 0;
	response->fields[0] = '\0';
	response->close = false;
	response->body = NULL;
	response->len = 0;
	response->file = -1;
	response->release = release;
	response->release_cls = cls;
	return response;
}

struct response *
response_owned(int status, const char *content_type, const char *body, size_t len,
			   response_release_fn release, void *release_cls)
{
	struct response *response = response_new(status, content_type, release, release_cls);

	if (response)
	{
		response->body = body;
		response->len = len;
	}
	return response;
}

struct response *
response_file(int status, const char *content_type, int fd, size_t len,
			  response_release_fn release)
{
	struct response *response = response_new(status, content_type, release,
											 (void *) (intptr_t) fd);

	if (response)
	{
		response->file = fd;
		response->len = len;
	}
	return response;
}

struct response *
response_static(int status, const char *content_type, const char *body, size_t len)
{
	return response_owned(status, content_type, body, len, NULL, NULL);
}

struct response *
response_error(int status, const char *code, const char *message, const char *parameter)
{
	size_t		len;
	char	   *body = error_body(status, code, message, parameter, &len);
	return body ? response_owned(status, JSON_TYPE, body, len, free, body) : NULL;
}

bool
refuse(struct refusal *refusal, int status, const char *code, const char *parameter,
	   const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vsnprintf(refusal->message, sizeof(refusal->message), fmt, args);
	va_end(args);
	refusal->status = status;
	refusal->code = code;
	snprintf(refusal->parameter, sizeof(refusal->parameter), "%.100s", parameter ? parameter : "");
	return false;
}

struct response *
response_refusal(const struct refusal *refusal)
{
	return response_error(refusal->status, refusal->code, refusal->message,
						  refusal->parameter[0] ? refusal->parameter : NULL);
}

struct response *
response_redirect(int status, const char *location)
{
	struct response *response = response_static(status, NULL, "", 0);

	if (response)
		response_add_field(response, "Location", location);
	return response;
}

struct response *
response_not_allowed(const char *message, const char *allow)
{
	struct response *response = response_error(405, NULL, message, NULL);

	if (response)
		response_add_field(response, "Allow", allow);
	return response;
}

void
response_add_field(struct response *response, const char *name, const char *value)
{
	size_t		room = sizeof(response->fields) - response->fields_len;
	int			n = snprintf(response->fields + response->fields_len, room, "%s: %s\r\n",
							 name, value);

	if (n > 0 && (size_t) n < room)
		response->fields_len += (size_t) n;
	else
		response->fields[response->fields_len] = '\0';
}

void
response_free(struct response *response)
{
	if (!response)
		return;
	if (response->release)
		response->release(response->release_cls);
	free(response);
}

void
responses_close_connections(void)
{
	atomic_store(&closing, true);
}

bool
responses_closing(void)
{
	return atomic_load(&closing);
}

/* The Date field's value, formatted once a second (RFC 9110 6.6.1: an origin server sends it). */
static const char *
http_date(void)
{
	static _Thread_local time_t last;
	static _Thread_local char text[40];
	time_t		now = time(NULL);
	struct tm	tm;

	if (now != last)
	{
		last = now;
		gmtime_r(&now, &tm);
		strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	}
	return text;
}

size_t
response_head(const struct response *response, bool keep_alive, bool http10, char *buf,
			  size_t size)
{
	const char *connection = !keep_alive ? "Connection: close\r\n"
		: http10 ? "Connection: keep-alive\r\n" : "";
	const char *challenge = response->status == 401 ? "WWW-Authenticate: Bearer\r\n" : "";
	int			n = snprintf(buf, size,
							 "HTTP/1.1 %d %s\r\nDate: %s\r\n%s%s%sContent-Length: %zu\r\n%s%s%s\r\n",
							 response->status, http_reason(response->status), http_date(),
							 response->content_type ? "Content-Type: " : "",
							 response->content_type ? response->content_type : "",
							 response->content_type ? "\r\n" : "", response->len,
							 challenge, response->fields, connection);

	return n > 0 && (size_t) n < size ? (size_t) n : 0;
}
