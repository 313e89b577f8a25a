/*
 * response.c: the responses every listener sends; see response.h.
 */
#include "response.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "errors.h"

/* Set by the API's loop thread, read by the metrics listener's thread too. */
static atomic_bool closing;

struct MHD_Response *
response_owned(const char *content_type, const char *body, size_t len,
			   MHD_ContentReaderFreeCallback free_fn, void *free_cls)
{
	struct MHD_Response *response =
		MHD_create_response_from_buffer_with_free_callback_cls(len, (void *) body, free_fn,
															   free_cls);

	if (!response)
	{
		if (free_fn)
			free_fn(free_cls);
		return NULL;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return response;
}

static ssize_t
read_file(void *cls, uint64_t pos, char *buf, size_t max)
{
	ssize_t		n = pread((int) (intptr_t) cls, buf, max, (off_t) pos);

	return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

struct MHD_Response *
response_file(const char *content_type, int fd, size_t len, MHD_ContentReaderFreeCallback free_fn)
{
	void	   *cls = (void *) (intptr_t) fd;
	struct MHD_Response *response = MHD_create_response_from_callback(len, 32 * 1024, read_file,
																	  cls, free_fn);

	if (!response)
	{
		free_fn(cls);
		return NULL;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return response;
}

struct MHD_Response *
response_static(const char *content_type, const char *body, size_t len)
{
	struct MHD_Response *response =
		MHD_create_response_from_buffer(len, (void *) body, MHD_RESPMEM_PERSISTENT);

	if (response)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return response;
}

struct MHD_Response *
response_error(int status, const char *code, const char *message, const char *parameter)
{
	size_t		len;
	char	   *body = error_body(status, code, message, parameter, &len);

	return body ? response_owned(JSON_TYPE, body, len, free, body) : NULL;
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

struct MHD_Response *
response_refusal(const struct refusal *refusal)
{
	return response_error(refusal->status, refusal->code, refusal->message,
						  refusal->parameter[0] ? refusal->parameter : NULL);
}

struct MHD_Response *
response_not_allowed(const char *message, const char *allow)
{
	struct MHD_Response *response = response_error(405, NULL, message, NULL);

	if (response)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
	return response;
}

void
responses_close_connections(void)
{
	atomic_store(&closing, true);
}

bool
reply(struct MHD_Connection *connection, int status, struct MHD_Response *response)
{
	enum MHD_Result queued;

	if (!response)
		return false;
	if (status == 401)
		MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	/* While stopping, keep-alive clients are told to go, so that the stop can finish. */
	if (atomic_load(&closing))
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
	queued = MHD_queue_response(connection, (unsigned int) status, response);
	MHD_destroy_response(response);
	return queued == MHD_YES;
}
