/*
 * request.c: the life of an API request.  Everything the route table
 * declares is checked before the database is asked anything: route,
 * method, bearer token present, known query parameters with values of the
 * declared syntax (query.c), body size, content type and JSON
 * well-formedness (body.c).  The rest is the SQL function's call.
 *
 * A request goes through these states; enter() makes every transition:
 *
 *   READING ---refused------------------------------> ANSWERED --> DELIVERED
 *      |                                                 ^  ^
 *      +---submitted--> CALLING ---answered at once------+  |
 *                          |                                |
 *                          +---waits--> SUSPENDED ---answered, resumed
 *
 * READING: request line and headers are taken, the body (if any) arrives.
 * CALLING: the job is with the pool; it may answer within db_submit (503).
 * SUSPENDED: MHD leaves the connection alone until the answer comes.
 * ANSWERED: the answer is settled, not yet queued.  It is queued once the
 * request has been read: MHD closes the connection after an answer queued
 * earlier, and keep-alive is worth more than the early answer, except when
 * the early answer saves reading a body that is refused anyway (413).
 * DELIVERED: queued to MHD; a refused body is still read and dropped.
 */
#include "request.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access_log.h"
#include "body.h"
#include "connections.h"
#include "db.h"
#include "docs.h"
#include "framing.h"
#include "loop.h"
#include "metrics.h"
#include "query.h"
#include "response.h"
#include "route_match.h"
#include "value_syntax.h"

#define MAX_URI 8192			/* path plus query string */
#define DISCARD_LIMIT (64 * 1024 * 1024)

enum request_state
{
	REQUEST_READING,
	REQUEST_CALLING,
	REQUEST_SUSPENDED,
	REQUEST_ANSWERED,
	REQUEST_DELIVERED,
	REQUEST_STATES
};

static const bool transitions[REQUEST_STATES][REQUEST_STATES] = {
	[REQUEST_READING] = {[REQUEST_CALLING] = true, [REQUEST_ANSWERED] = true},
	[REQUEST_CALLING] = {[REQUEST_SUSPENDED] = true, [REQUEST_ANSWERED] = true},
	[REQUEST_SUSPENDED] = {[REQUEST_ANSWERED] = true},
	[REQUEST_ANSWERED] = {[REQUEST_DELIVERED] = true},
};

struct request
{
	enum request_state state;
	struct MHD_Connection *connection;
	struct match match;
	enum route_match found;
	char		method[16];
	double		start;
	int			status;			/* 0 until ANSWERED */
	struct MHD_Response *response;	/* while ANSWERED */
	const char *token;			/* in MHD's header storage, valid for the request */
	const char *target_end;		/* in MHD's buffer: where the request target seemed to end */
	size_t		target_len;
	char	   *query_string;	/* raw, as the client sent it; NULL = none */
	bool		begun;			/* the headers were seen */
	bool		close;			/* the connection cannot be trusted past this answer */
	char	   *query[MAX_QUERY_PARAMS];	/* decoded; NULL = not given */
	struct body body;
	size_t		discarded;		/* body bytes of a request already refused */
	struct db_job job;			/* the database call, from CALLING on */
	char		raw_path[128];	/* for the log line of unmatched requests */
};

static size_t max_body;
static int	in_flight;

void
request_init(size_t max_body_bytes, const char *docs_dir)
{
	max_body = max_body_bytes;
	docs_init(docs_dir);
}

int
requests_in_flight(void)
{
	return in_flight;
}

/* The one place a request changes state; a suspended connection is resumed on its way out. */
static void
enter(struct request *rq, enum request_state next)
{
	assert(transitions[rq->state][next]);
	if (rq->state == REQUEST_SUSPENDED)
		MHD_resume_connection(rq->connection);
	if (next == REQUEST_SUSPENDED)
		MHD_suspend_connection(rq->connection);
	rq->state = next;
}

/* ---- answers ---- */

static void
settle(struct request *rq, int status, struct MHD_Response *response)
{
	rq->status = status;
	rq->response = response;
	enter(rq, REQUEST_ANSWERED);
}

static void
settle_refusal(struct request *rq, const struct refusal *refusal)
{
	settle(rq, refusal->status, response_refusal(refusal));
}

/* Counted when queued, so that a client that has its answer finds it in /metrics. */
static enum MHD_Result
deliver(struct request *rq)
{
	struct MHD_Response *response = rq->response;

	rq->response = NULL;
	enter(rq, REQUEST_DELIVERED);
	if (rq->close && response)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
	metrics_request(rq->found == ROUTE_MATCH_NONE ? METRICS_UNMATCHED : rq->match.slot,
					rq->method, rq->status, monotonic_seconds() - rq->start);
	return reply(rq->connection, rq->status, response) ? MHD_YES : MHD_NO;
}

/* The database's answer, maybe given within db_submit. */
static void
on_answer(struct db_job *job, struct db_answer *answer)
{
	struct request *rq = (struct request *) ((char *) job - offsetof(struct request, job));
	struct MHD_Response *response;

	if (answer->file >= 0)
		response = response_file(JSON_TYPE, answer->file, answer->len, db_answer_close_file);
	else if (answer->result)
		response = response_owned(JSON_TYPE, answer->body, answer->len, db_answer_free,
								  answer->result);
	else
		response = response_owned(JSON_TYPE, answer->body, answer->len, free,
								  (void *) answer->body);
	settle(rq, answer->status, response);
}

/* ---- the database call ---- */

static void
call_function(struct request *rq)
{
	const struct route *route = rq->match.route;
	struct db_job *job = &rq->job;
	size_t		npath = route_path_param_count(route);
	size_t		nquery = route_query_count(route);

	job->route = route;
	job->token = rq->token;
	job->done = on_answer;
	job->nvalues = 0;
	for (size_t i = 0; i < npath; i++)
		job->values[job->nvalues++] = rq->match.path_values[i];
	for (size_t i = 0; i < nquery; i++)
		job->values[job->nvalues++] = rq->query[i];
	if (route->body)
		job->values[job->nvalues++] = rq->body.data;
	enter(rq, REQUEST_CALLING);
	db_submit(job);
}

/* The whole request is read: its body judged, its function called. */
static void
submit(struct request *rq)
{
	struct refusal refusal;

	if (rq->match.route->body && !body_is_json(&rq->body, &refusal))
		settle_refusal(rq, &refusal);
	else
		call_function(rq);
}

/* ---- the bearer token ---- */

static const char *
bearer_token(struct MHD_Connection *connection)
{
	const char *header = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
													 MHD_HTTP_HEADER_AUTHORIZATION);

	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return NULL;
	header += 7;
	header += strspn(header, " ");
	return bearer_token_syntax(header) ? header : NULL;
}

/* ---- what the request line and headers decide ---- */

static void
begin_api(struct request *rq)
{
	const struct route *route = rq->match.route;
	struct refusal refusal;

	rq->token = bearer_token(rq->connection);
	if (!rq->token)
	{
		refuse(&refusal, 401, NULL, NULL,
			   "missing or malformed bearer token: send Authorization: Bearer <token>");
		settle_refusal(rq, &refusal);
	}
	else if (!query_scan(rq->query_string, route, rq->query, &refusal) ||
			 (route->body && !body_headers_fit(rq->connection, max_body, &refusal)))
		settle_refusal(rq, &refusal);
}

static void
begin_docs(struct request *rq)
{
	int			status;
	struct MHD_Response *response = docs_response(rq->match.route, rq->match.path_values[0],
												  &status);

	settle(rq, status, response);
}

static void
not_allowed(struct request *rq)
{
	char		message[128];

	snprintf(message, sizeof(message), "method %.16s is not allowed here; allowed: %s",
			 rq->method, rq->match.allow);
	settle(rq, 405, response_not_allowed(message, rq->match.allow));
}

/*
 * MHD passes the HTTP version from right behind the request target: when
 * it is not there, a NUL byte cut the target short.
 */
static bool
target_has_nul(const struct request *rq, const char *version)
{
	return rq->target_end == NULL || version != rq->target_end + 1;
}

/* What the head says before any route is looked at: framing, then the target. */
static bool
head_fits(struct request *rq, const char *version)
{
	struct refusal refusal;

	if (!framing_ok(rq->connection, &refusal))
	{
		rq->close = true;
		settle_refusal(rq, &refusal);
	}
	else if (target_has_nul(rq, version))
	{
		rq->close = true;
		settle(rq, 400, response_error(400, "bad_request",
									   "the request target contains a NUL byte", NULL));
	}
	else if (rq->target_len > MAX_URI)
		settle(rq, 414, response_error(414, NULL, "the request URI is longer than 8192 bytes", NULL));
	else
		return true;
	return false;
}

static void
begin(struct request *rq, const char *url, const char *version)
{
	if (!head_fits(rq, version))
		return;
	rq->found = route_find(rq->method, url, &rq->match);
	switch (rq->found)
	{
		case ROUTE_MATCH_NONE:
			snprintf(rq->raw_path, sizeof(rq->raw_path), "%s", url);
			settle(rq, 404, response_error(404, NULL, "no such route", NULL));
			return;
		case ROUTE_MATCH_METHOD:
			not_allowed(rq);
			return;
		case ROUTE_MATCH_BAD_ESCAPE:
			settle(rq, 400, response_error(400, "bad_request",
										   "the path is not valid percent-encoded UTF-8", NULL));
			return;
		case ROUTE_MATCH_OK:
			break;
	}
	if (rq->match.route->kind != RK_API)
		begin_docs(rq);
	else
		begin_api(rq);
}

/* ---- MHD's callbacks ---- */

/*
 * MHD_OPTION_URI_LOG_CALLBACK: the request begins with its raw target,
 * before MHD parses the query string.  The shim keeps the query and scans
 * it itself (query.c); MHD is left an empty one, because it would store
 * each argument as a record in the connection's small memory pool and
 * answer nothing at all once some 470 arguments have filled it.  uri lies
 * in MHD's writable read buffer (MHD itself cuts it apart after this
 * call); writing there is what MHD 0.9.75 allows for, nothing more.
 */
void *
request_on_uri(void *cls, const char *uri, struct MHD_Connection *connection)
{
	struct request *rq = calloc(1, sizeof(*rq));
	char	   *query = uri ? strchr(uri, '?') : NULL;

	(void) cls;
	if (!rq)
		return NULL;
	if (uri)
	{
		rq->target_len = strlen(uri);
		rq->target_end = uri + rq->target_len;
	}
	/* Without memory for its query the request is dropped, never served unfiltered. */
	if (query && rq->target_len <= MAX_URI && !(rq->query_string = strdup(query + 1)))
	{
		free(rq);
		return NULL;
	}
	if (query)
		query[1] = '\0';
	rq->state = REQUEST_READING;
	rq->connection = connection;
	rq->start = monotonic_seconds();
	in_flight++;
	return rq;
}

/*
 * Takes one piece of the body.  MHD cannot answer in the middle of an
 * upload, so a refused body (too large, or for a request already refused)
 * is read to its end and dropped; past DISCARD_LIMIT the connection is
 * simply closed.
 */
static enum MHD_Result
take_upload(struct request *rq, const char *data, size_t size)
{
	struct refusal refusal;

	if (rq->state == REQUEST_READING && rq->match.route->body)
	{
		if (body_append(&rq->body, data, size, max_body, &refusal))
			return MHD_YES;
		settle_refusal(rq, &refusal);
	}
	rq->discarded += size;
	return rq->discarded <= DISCARD_LIMIT ? MHD_YES : MHD_NO;
}

enum MHD_Result
request_on_access(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct request *rq = *req_cls;
	size_t		size = *upload_data_size;

	(void) cls;
	if (!rq)
		return MHD_NO;			/* request_on_uri found no memory */
	if (!rq->begun)
	{
		rq->begun = true;
		connection_head_received(connection);
		snprintf(rq->method, sizeof(rq->method), "%s", method);
		begin(rq, url, version);
		/* A body refused for its size or framing is not read: answer and close. */
		return rq->status == 413 || rq->close ? deliver(rq) : MHD_YES;
	}
	if (size > 0)
	{
		*upload_data_size = 0;
		return take_upload(rq, upload_data, size);
	}
	connection_request_received(connection);
	if (rq->state == REQUEST_DELIVERED)
		return MHD_YES;
	if (rq->state == REQUEST_READING)
		submit(rq);
	/* The answer comes later, from the loop: MHD calls again once resumed. */
	if (rq->state == REQUEST_CALLING)
	{
		enter(rq, REQUEST_SUSPENDED);
		return MHD_YES;
	}
	return deliver(rq);
}

static void
request_free(struct request *rq)
{
	if (rq->response)
		MHD_destroy_response(rq->response);
	match_release(&rq->match);
	free(rq->query_string);
	for (size_t i = 0; i < MAX_QUERY_PARAMS; i++)
		free(rq->query[i]);
	body_free(&rq->body);
	free(rq);
}

/* MHD answered the request itself (its header was too large, malformed, ...) or it was cut off. */
static void
log_refused_by_mhd(const struct request *rq, struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_HTTP_STATUS);
	int			status = info ? (int) info->http_status : 0;

	access_log("-", "-", status, monotonic_seconds() - rq->start, status == 0);
}

void
request_on_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
					 enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *req_cls;

	(void) cls;
	if (!rq)
		return;
	connection_answered(connection);
	if (!rq->begun)
		log_refused_by_mhd(rq, connection);
	else
		access_log(rq->method,
				   rq->found == ROUTE_MATCH_NONE ? rq->raw_path : route_pattern(rq->match.slot),
				   rq->status, monotonic_seconds() - rq->start,
				   toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
	request_free(rq);
	*req_cls = NULL;
	in_flight--;
}
