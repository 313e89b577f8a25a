/*
 * request.c: the life of an API request.  Everything the route table
 * declares is checked before the database is asked anything: route,
 * method, bearer token present, known query parameters with values of the
 * declared syntax (query.c), body size, content type and JSON
 * well-formedness (body.c).  The rest is the SQL function's call.  The
 * connection layer (http_conn.c) has already refused what is not HTTP.
 *
 * A request goes through these states; enter() makes every transition:
 *
 *   READING ---refused-----------------------> ANSWERED
 *      |                                          ^
 *      +---body in--> CALLING ---the pool's answer-+
 *      |                 ^                         |
 *      +--large body--> CHECKING ---not JSON-------+
 *
 * READING: the head is in, the body (if any) arrives.
 * CHECKING: a body of LARGE_BODY bytes or more is judged on a worker
 * thread (offload.h): parsing megabytes of JSON takes milliseconds that
 * the loop's other connections would otherwise wait.
 * CALLING: the job is with the pool; it may answer within db_submit (503).
 * ANSWERED: the answer is with the connection, which calls done once it is
 * out (or lost); an answer given while the body arrives stops its reading.
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
#include "db.h"
#include "docs.h"
#include "loop.h"
#include "metrics.h"
#include "offload.h"
#include "query.h"
#include "response.h"
#include "route_match.h"
#include "value_syntax.h"

#define QUERY_LOGGED 1024		/* the access log shows this much of a query */

enum request_state
{
	REQUEST_READING,
	REQUEST_CHECKING,
	REQUEST_CALLING,
	REQUEST_ANSWERED,
	REQUEST_STATES
};

static const bool transitions[REQUEST_STATES][REQUEST_STATES] = {
	[REQUEST_READING] = {[REQUEST_CHECKING] = true, [REQUEST_CALLING] = true,
	[REQUEST_ANSWERED] = true},
	[REQUEST_CHECKING] = {[REQUEST_CALLING] = true, [REQUEST_ANSWERED] = true},
	[REQUEST_CALLING] = {[REQUEST_ANSWERED] = true},
};

struct request
{
	enum request_state state;
	struct http_conn *conn;
	const struct http_head *head;	/* the connection's, valid until done */
	struct match match;
	enum route_match found;
	char		method[16];
	double		start;
	const char *token;			/* in the head */
	char	   *query[MAX_QUERY_PARAMS];	/* decoded; NULL = not given */
	struct body body;
	struct offload_task check;	/* the body's judgement on a worker, in CHECKING */
	bool		body_ok;		/* its verdict; refusal says why not */
	struct refusal refusal;
	struct db_job job;			/* the database call, from CALLING on */
	size_t		bytes;			/* of the answer's body, from ANSWERED on */
};

static size_t max_body;
static _Thread_local int in_flight;	/* the calling loop's */

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

/* The one place a request changes state. */
static void
enter(struct request *rq, enum request_state next)
{
	assert(transitions[rq->state][next]);
	rq->state = next;
}

/* ---- answers ---- */

/*
 * Counted when given, so that a client that has its answer finds it in
 * /metrics.  The connection may be done with rq before this returns.
 */
static void
settle(struct request *rq, struct response *response)
{
	rq->bytes = response ? response->len : 0;
	metrics_request(rq->found == ROUTE_MATCH_NONE ? METRICS_UNMATCHED : rq->match.slot,
					rq->method, response ? response->status : 500,
					monotonic_seconds() - rq->start);
	enter(rq, REQUEST_ANSWERED);
	http_conn_answer(rq->conn, response);
}

static void
settle_refusal(struct request *rq, const struct refusal *refusal)
{
	settle(rq, response_refusal(refusal));
}

/* The database's answer, maybe given within db_submit. */
static void
on_answer(struct db_job *job, struct db_answer *answer)
{
	struct request *rq = (struct request *) ((char *) job - offsetof(struct request, job));
	struct response *response;

	if (answer->file >= 0)
		response = response_file(answer->status, JSON_TYPE, answer->file, answer->len,
								 db_answer_close_file);
	else if (answer->result)
		response = response_owned(answer->status, JSON_TYPE, answer->body, answer->len,
								  db_answer_free, answer->result);
	else
		response = response_owned(answer->status, JSON_TYPE, answer->body, answer->len, free,
								  (void *) answer->body);
	settle(rq, response);
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
	job->body_len = 0;
	if (route->body)
	{
		job->values[job->nvalues++] = rq->body.data;
		job->body_len = rq->body.len;
	}
	enter(rq, REQUEST_CALLING);
	db_submit(job);
}

/* ---- the bearer token ---- */

static const char *
bearer_token(const struct http_head *head)
{
	const char *header = http_head_field(head, "Authorization");

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

	rq->token = bearer_token(rq->head);
	if (!rq->token)
	{
		refuse(&refusal, 401, NULL, NULL,
			   "missing or malformed bearer token: send Authorization: Bearer <token>");
		settle_refusal(rq, &refusal);
	}
	else if (!query_scan(rq->head->query, route, rq->query, &refusal) ||
			 (route->body && !body_headers_fit(rq->head, max_body, &refusal)))
		settle_refusal(rq, &refusal);
}

static void
not_allowed(struct request *rq)
{
	char		message[128];

	snprintf(message, sizeof(message), "method %.16s is not allowed here; allowed: %s",
			 rq->method, rq->match.allow);
	settle(rq, response_not_allowed(message, rq->match.allow));
}

static void
begin(struct request *rq)
{
	rq->found = route_find(rq->method, rq->head->path, &rq->match);
	switch (rq->found)
	{
		case ROUTE_MATCH_NONE:
			settle(rq, response_error(404, NULL, "no such route", NULL));
			return;
		case ROUTE_MATCH_METHOD:
			not_allowed(rq);
			return;
		case ROUTE_MATCH_BAD_ESCAPE:
			settle(rq, response_error(400, "bad_request",
									  "the path is not valid percent-encoded UTF-8", NULL));
			return;
		case ROUTE_MATCH_OK:
			break;
	}
	if (rq->match.route->kind != RK_API)
		settle(rq, docs_response(rq->match.route, rq->match.path_values[0]));
	else
		begin_api(rq);
}

/* ---- the connection's calls ---- */

static void *
on_begin(struct http_conn *conn, const struct http_head *head)
{
	struct request *rq = calloc(1, sizeof(*rq));

	if (!rq)
		return NULL;
	rq->state = REQUEST_READING;
	rq->conn = conn;
	rq->head = head;
	rq->start = monotonic_seconds();
	snprintf(rq->method, sizeof(rq->method), "%s", head->method);
	in_flight++;
	begin(rq);
	return rq;
}

/* A body sent to a route that takes none is dropped; a refused one stops being read. */
static void
on_body(void *request, const char *data, size_t size)
{
	struct request *rq = request;
	struct refusal refusal;

	if (rq->match.route->body && !body_append(&rq->body, data, size, max_body, &refusal))
		settle_refusal(rq, &refusal);
}

static struct request *
checked_request(struct offload_task *task)
{
	return (struct request *) ((char *) task - offsetof(struct request, check));
}

/* On a worker for a large body: nothing else touches the request meanwhile. */
static void
check_body(struct offload_task *task)
{
	struct request *rq = checked_request(task);

	rq->body_ok = body_is_json(&rq->body, &rq->refusal);
}

/* On the loop. */
static void
body_checked(struct offload_task *task)
{
	struct request *rq = checked_request(task);

	if (rq->body_ok)
		call_function(rq);
	else
		settle_refusal(rq, &rq->refusal);
}

/* The whole request is read: its body judged (a large one off the loop), its function called. */
static void
on_end(void *request)
{
	struct request *rq = request;

	rq->check = (struct offload_task) {.work = check_body, .done = body_checked};
	if (!rq->match.route->body)
		call_function(rq);
	else if (rq->body.len >= LARGE_BODY)
	{
		enter(rq, REQUEST_CHECKING);
		offload(&rq->check);
	}
	else
	{
		check_body(&rq->check);
		body_checked(&rq->check);
	}
}

static void
request_free(struct request *rq)
{
	match_release(&rq->match);
	for (size_t i = 0; i < MAX_QUERY_PARAMS; i++)
		free(rq->query[i]);
	body_free(&rq->body);
	free(rq);
}

/* The path's tenant, decoded, when the matched route has one. */
static const char *
tenant_of(const struct request *rq)
{
	size_t		len = 0;
	const char *first = rq->match.route ? route_path_param(rq->match.route, 0, &len) : NULL;

	return first && len == 6 && strncmp(first, "tenant", 6) == 0 ? rq->match.path_values[0] : NULL;
}

static const char *
client_or_null(struct http_conn *conn)
{
	const char *client = http_conn_client(conn);

	return *client ? client : NULL;
}

static void
on_done(void *request, int status, bool delivered)
{
	struct request *rq = request;
	char		query[QUERY_LOGGED];
	struct access_entry entry = {
		.request_id = http_conn_request_id(rq->conn), .client = client_or_null(rq->conn),
		.method = rq->method, .path = rq->head->path, .tenant = tenant_of(rq),
		.status = status, .bytes = strcmp(rq->method, "HEAD") == 0 ? 0 : rq->bytes,
		.seconds = monotonic_seconds() - rq->start, .aborted = !delivered,
	};

	if (rq->head->query)
	{
		query_for_log(rq->head->query, rq->match.route, query, sizeof(query));
		entry.query = query;
	}
	access_log(&entry);
	request_free(rq);
	in_flight--;
}

/* What the connection layer refused before any request began (malformed, too slow). */
static void
on_refused(struct http_conn *conn, int status)
{
	struct access_entry entry = {
		.request_id = http_conn_request_id(conn), .client = client_or_null(conn),
		.method = "-", .path = "-", .status = status,
	};

	access_log(&entry);
}

const struct http_handler request_handler = {
	.begin = on_begin,
	.body = on_body,
	.end = on_end,
	.done = on_done,
	.refused = on_refused,
};
