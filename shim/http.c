/*
 * http.c: the API listener.  Everything the route table declares is checked
 * here before the database is asked anything: route, method, bearer token
 * present, known query parameters with values of the declared syntax, body
 * size, content type and JSON well-formedness.  The rest is the SQL
 * function's call.
 */
#include "http.h"

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "db.h"
#include "docs.h"
#include "loop.h"
#include "metrics.h"
#include "response.h"
#include "routes.h"

#define MAX_URI 8192			/* path plus query string */
#define MAX_TOKEN 512
/*
 * Per connection: request line and headers must fit in this, which is what
 * turns header floods into 431 and keeps 256 idle keep-alive connections
 * small.  Bodies are not held there but in the request's own buffer.
 */
#define CONNECTION_MEMORY (32 * 1024)
#define DISCARD_LIMIT (64 * 1024 * 1024)
#define IDLE_TIMEOUT 60			/* seconds a keep-alive connection may idle */
#define MAX_CONNECTIONS 1000
#define IDLE_WAKEUP_MS 1000		/* the loop's longest sleep */

static struct http_config config;
static int	in_flight;
static bool stopping;

struct request
{
	struct match match;
	enum route_match found;
	char		method[16];
	double		start;
	int			status;			/* 0 until answered */
	const char *token;			/* in MHD's header storage, valid for the request */
	char	   *query[MAX_QUERY_PARAMS];	/* decoded; NULL = not given */
	char	   *body;
	size_t		body_len;
	size_t		body_cap;
	size_t		discarded;		/* body bytes of a request already refused */
	struct MHD_Response *response;	/* settled, not yet queued */
	bool		queued;
	struct db_job job;			/* the database call, once submitted */
	bool		submitted;
	struct MHD_Connection *suspended;	/* while it waits for the database */
	char		raw_path[128];	/* for the log line of unmatched requests */
};

/* ---- answers ---- */

/*
 * A request's answer is settled when it is known and queued once the
 * request has been read: MHD closes the connection after an answer queued
 * earlier, and keep-alive is worth more than the early answer, except when
 * the early answer saves reading a body that is refused anyway (413).
 */
static void
settle(struct request *rq, int status, struct MHD_Response *response)
{
	if (rq->response)
		MHD_destroy_response(rq->response);
	rq->status = status;
	rq->response = response;
}

static void
settle_error(struct request *rq, int status, const char *code, const char *message,
			 const char *parameter)
{
	settle(rq, status, response_error(status, code, message, parameter));
}

/* Counted when queued, so that a client that has its answer finds it in /metrics. */
static enum MHD_Result
deliver(struct MHD_Connection *connection, struct request *rq)
{
	struct MHD_Response *response = rq->response;

	rq->response = NULL;
	rq->queued = true;
	metrics_request(rq->found == ROUTE_MATCH_NONE ? METRICS_UNMATCHED : rq->match.slot,
					rq->method, rq->status, monotonic_seconds() - rq->start);
	return reply(connection, rq->status, response) ? MHD_YES : MHD_NO;
}

static void
free_result(void *result)
{
	PQclear(result);
}

/* ---- the bearer token ---- */

/* RFC 6750 b64token: what a token may look like at all; the database judges the rest. */
static bool
token_syntax(const char *token)
{
	size_t		len = strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
							 "0123456789-._~+/");

	len += strspn(token + len, "=");
	return len > 0 && len <= MAX_TOKEN && token[len] == '\0';
}

static const char *
bearer_token(struct MHD_Connection *connection)
{
	const char *header = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
													 MHD_HTTP_HEADER_AUTHORIZATION);

	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return NULL;
	header += 7;
	header += strspn(header, " ");
	return token_syntax(header) ? header : NULL;
}

/* ---- query parameters ---- */

struct query_scan
{
	struct request *rq;
	int			status;			/* 0 while every argument is fine */
	char		message[320];
	char		parameter[104];
};

__attribute__((format(printf, 4, 5)))
static enum MHD_Result
scan_fail(struct query_scan *scan, int status, const char *parameter, const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vsnprintf(scan->message, sizeof(scan->message), fmt, args);
	va_end(args);
	scan->status = status;
	snprintf(scan->parameter, sizeof(scan->parameter), "%.100s", parameter ? parameter : "");
	return MHD_NO;
}

static void
describe_allowed(const struct route *route, const char *name, char *buf, size_t size)
{
	const char *successor = param_successor(name);
	size_t		dummy;

	if (successor && route_query_param(route, successor, &dummy))
	{
		snprintf(buf, size, "; it is now called %s", successor);
		return;
	}
	snprintf(buf, size, "; this route takes %s", route->query ? "" : "no query parameters");
	for (size_t i = 0; route->query && route->query[i]; i++)
		snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? ", " : "",
				 route->query[i]->name);
}

static enum MHD_Result
unknown_param(struct query_scan *scan, const char *name)
{
	char		allowed[200];

	describe_allowed(scan->rq->match.route, name, allowed, sizeof(allowed));
	return scan_fail(scan, 400, name, "unknown query parameter %.100s%s", name, allowed);
}

static enum MHD_Result
take_value(struct query_scan *scan, const struct param *param, size_t index,
		   const char *value, size_t value_size)
{
	char	   *decoded;
	const char *reason;

	if (scan->rq->query[index])
		return scan_fail(scan, 400, param->name, "%s is given more than once", param->name);
	decoded = percent_decode(value ? value : "", value_size, true);
	if (!decoded)
		return scan_fail(scan, 400, param->name,
						 "%s is not valid percent-encoded UTF-8", param->name);
	scan->rq->query[index] = decoded;
	reason = param_check(param, decoded);
	if (reason)
		return scan_fail(scan, 400, param->name, "%s %s", param->name, reason);
	return MHD_YES;
}

static enum MHD_Result
on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
			 const char *value, size_t value_size)
{
	struct query_scan *scan = cls;
	const struct param *param;
	char	   *name;
	size_t		index;
	enum MHD_Result result;

	(void) kind;
	if (key_size == 0 && value_size == 0)
		return MHD_YES;			/* "a=1&&b=2" */
	name = percent_decode(key, key_size, true);
	if (!name)
		return scan_fail(scan, 400, NULL,
						 "a query parameter name is not valid percent-encoded UTF-8");
	param = route_query_param(scan->rq->match.route, name, &index);
	result = param ? take_value(scan, param, index, value, value_size)
		: unknown_param(scan, name);
	free(name);
	return result;
}

/* True when every argument fits the route; else the error is settled. */
static bool
scan_query(struct MHD_Connection *connection, struct request *rq)
{
	struct query_scan scan = {.rq = rq};

	MHD_get_connection_values_n(connection, MHD_GET_ARGUMENT_KIND, on_query_arg, &scan);
	if (scan.status == 0)
		return true;
	settle_error(rq, scan.status, NULL, scan.message, scan.parameter[0] ? scan.parameter : NULL);
	return false;
}

/* ---- the database call ---- */

/* The database's answer: settled, and the request goes on if it was suspended. */
static void
on_answer(struct db_job *job, struct db_answer *answer)
{
	struct request *rq = (struct request *) ((char *) job - offsetof(struct request, job));
	struct MHD_Response *response;

	if (answer->result)
		response = response_owned(JSON_TYPE, answer->body, answer->len, free_result,
								  answer->result);
	else
		response = response_owned(JSON_TYPE, answer->body, answer->len, free,
								  (void *) answer->body);
	settle(rq, answer->status, response);
	if (rq->suspended)
	{
		MHD_resume_connection(rq->suspended);
		rq->suspended = NULL;
	}
}

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
		job->values[job->nvalues++] = rq->body;
	db_submit(job);
}

/* ---- bodies ---- */

static bool
json_media_type(const char *content_type)
{
	static const char json[] = "application/json";

	/* Parameters may follow; strchr also finds the final NUL: the bare type. */
	return content_type && strncasecmp(content_type, json, sizeof(json) - 1) == 0 &&
		strchr("; \t", content_type[sizeof(json) - 1]) != NULL;
}

static void
settle_too_large(struct request *rq)
{
	char		message[96];

	snprintf(message, sizeof(message), "the request body is larger than %zu bytes",
			 config.max_body);
	settle_error(rq, 413, NULL, message, NULL);
}

/* What the headers already show to be wrong with the body. */
static void
check_body_headers(struct MHD_Connection *connection, struct request *rq)
{
	const char *content_type = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
														   MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
													 MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (length && strtoull(length, NULL, 10) > config.max_body)
		settle_too_large(rq);
	else if (!json_media_type(content_type))
		settle_error(rq, 415, NULL,
					 "the request body must be JSON sent with Content-Type: application/json",
					 NULL);
}

/* False when the body outgrew --max-body or memory. */
static bool
append_body(struct request *rq, const char *data, size_t size)
{
	size_t		need = rq->body_len + size + 1;

	if (rq->body_len + size > config.max_body)
	{
		settle_too_large(rq);
		return false;
	}
	if (need > rq->body_cap)
	{
		size_t		cap = rq->body_cap ? rq->body_cap * 2 : 4096;
		char	   *grown;

		cap = cap < need ? need : cap;
		cap = cap > config.max_body + 1 ? config.max_body + 1 : cap;
		grown = realloc(rq->body, cap);
		if (!grown)
		{
			settle_error(rq, 503, NULL, "out of memory; try again", NULL);
			return false;
		}
		rq->body = grown;
		rq->body_cap = cap;
	}
	memcpy(rq->body + rq->body_len, data, size);
	rq->body_len += size;
	rq->body[rq->body_len] = '\0';
	return true;
}

static void
finish_body(struct request *rq)
{
	char		message[320];
	json_error_t error;
	json_t	   *parsed;

	if (rq->body_len == 0)
	{
		settle_error(rq, 400, "bad_request", "a JSON request body is required", NULL);
		return;
	}
	/*
	 * Well-formedness only; the SQL function judges the content.  A number
	 * too large for jansson is still JSON: PostgreSQL's numeric takes it.
	 */
	parsed = json_loadb(rq->body, rq->body_len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &error);
	if (!parsed && json_error_code(&error) != json_error_numeric_overflow)
	{
		snprintf(message, sizeof(message),
				 "the request body is not valid JSON: %s (line %d, column %d)",
				 json_error_code(&error) == json_error_null_character
				 ? "\\u0000 cannot be stored in a string" : error.text,
				 error.line, error.column);
		settle_error(rq, 400, "bad_request", message, NULL);
		return;
	}
	json_decref(parsed);
	call_function(rq);
}

/* ---- dispatch ---- */

static void
begin_api(struct MHD_Connection *connection, struct request *rq)
{
	rq->token = bearer_token(connection);
	if (!rq->token)
		settle_error(rq, 401, NULL,
					 "missing or malformed bearer token: send Authorization: Bearer <token>",
					 NULL);
	else if (scan_query(connection, rq) && rq->match.route->body)
		check_body_headers(connection, rq);
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

static enum MHD_Result
add_length(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
		   const char *value, size_t value_size)
{
	(void) kind, (void) key, (void) value;
	*(size_t *) cls += key_size + value_size + 2;
	return MHD_YES;
}

/* The length of path and query string, as far as MHD kept them apart. */
static size_t
uri_length(struct MHD_Connection *connection, const char *url)
{
	size_t		len = strlen(url);

	MHD_get_connection_values_n(connection, MHD_GET_ARGUMENT_KIND, add_length, &len);
	return len;
}

/* Everything that can be decided from the request line and headers. */
static void
begin(struct MHD_Connection *connection, struct request *rq, const char *url)
{
	if (uri_length(connection, url) > MAX_URI)
	{
		settle_error(rq, 414, NULL, "the request URI is longer than 8192 bytes", NULL);
		return;
	}
	rq->found = route_find(rq->method, url, &rq->match);
	switch (rq->found)
	{
		case ROUTE_MATCH_NONE:
			snprintf(rq->raw_path, sizeof(rq->raw_path), "%s", url);
			settle_error(rq, 404, NULL, "no such route", NULL);
			return;
		case ROUTE_MATCH_METHOD:
			not_allowed(rq);
			return;
		case ROUTE_MATCH_BAD_ESCAPE:
			settle_error(rq, 400, "bad_request", "the path is not valid percent-encoded UTF-8",
						 NULL);
			return;
		case ROUTE_MATCH_OK:
			break;
	}
	if (rq->match.route->kind != RK_API)
		begin_docs(rq);
	else
		begin_api(connection, rq);
}

static struct request *
request_new(const char *method)
{
	struct request *rq = calloc(1, sizeof(*rq));

	if (!rq)
		return NULL;
	rq->start = monotonic_seconds();
	snprintf(rq->method, sizeof(rq->method), "%s", method);
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
	if (rq->status == 0 && rq->match.route->body && append_body(rq, data, size))
		return MHD_YES;
	rq->discarded += size;
	return rq->discarded <= DISCARD_LIMIT ? MHD_YES : MHD_NO;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
		   const char *version, const char *upload_data, size_t *upload_data_size,
		   void **req_cls)
{
	struct request *rq = *req_cls;
	size_t		size = *upload_data_size;

	(void) cls, (void) version;
	if (!rq)
	{
		rq = *req_cls = request_new(method);
		if (!rq)
			return MHD_NO;
		begin(connection, rq, url);
		return rq->status == 413 ? deliver(connection, rq) : MHD_YES;
	}
	if (size > 0)
	{
		*upload_data_size = 0;
		return take_upload(rq, upload_data, size);
	}
	if (rq->queued)
		return MHD_YES;
	if (rq->status == 0 && !rq->submitted)
	{
		rq->submitted = true;
		if (rq->match.route->body)
			finish_body(rq);
		else
			call_function(rq);
	}
	if (rq->status == 0)
	{
		/* The answer comes later, from the loop: MHD calls again once resumed. */
		rq->suspended = connection;
		MHD_suspend_connection(connection);
		return MHD_YES;
	}
	return deliver(connection, rq);
}

/* ---- the access log ---- */

/* Unmatched paths come from the client: only printable ASCII reaches the log. */
static void
sanitize(char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char) *s) || *s == ' ')
			*s = '?';
}

/*
 * The access log is written once per turn of the loop, whole lines only:
 * under load one write carries many lines.
 */
#define LOG_LINE_MAX 512		/* raw_path (128) and method (16) are bounded: a line fits */
static char log_buffer[64 * 1024];
static size_t log_used;

static void
flush_log(void)
{
	ssize_t		written = log_used > 0 ? write(STDERR_FILENO, log_buffer, log_used) : 0;

	(void) written;				/* a failed write drops the lines: nowhere else to log them */
	log_used = 0;
}

static void
log_request(struct request *rq, double seconds, enum MHD_RequestTerminationCode toe)
{
	char		when[32];
	struct timespec now;
	struct tm	tm;
	int			len;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	sanitize(rq->raw_path);
	sanitize(rq->method);
	if (sizeof(log_buffer) - log_used < LOG_LINE_MAX)
		flush_log();
	len = snprintf(log_buffer + log_used, LOG_LINE_MAX, "%s.%03ldZ %s %s %d %.3fms%s\n", when,
				   now.tv_nsec / 1000000, rq->method,
				   rq->found == ROUTE_MATCH_NONE ? rq->raw_path : route_pattern(rq->match.slot),
				   rq->status, seconds * 1000.0,
				   toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
	if (len > 0 && len < LOG_LINE_MAX)
		log_used += (size_t) len;
}

static void
request_free(struct request *rq)
{
	if (rq->response)
		MHD_destroy_response(rq->response);
	match_release(&rq->match);
	for (size_t i = 0; i < MAX_QUERY_PARAMS; i++)
		free(rq->query[i]);
	free(rq->body);
	free(rq);
}

static void
on_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *req_cls;
	double		seconds;

	(void) cls, (void) connection;
	if (!rq)
		return;
	seconds = monotonic_seconds() - rq->start;
	log_request(rq, seconds, toe);
	request_free(rq);
	*req_cls = NULL;
	in_flight--;
}

/* Paths and arguments reach us still percent-encoded: we decode them strictly ourselves. */
static size_t
keep_escaped(void *cls, struct MHD_Connection *connection, char *s)
{
	(void) cls, (void) connection;
	return strlen(s);
}

struct MHD_Daemon *
http_start(const struct http_config *cfg)
{
	config = *cfg;
	docs_init(cfg->docs_dir);
	/* No thread of MHD's own: http_serve's loop runs it beside the database connections. */
	return MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
							(cfg->ipv6 ? MHD_USE_IPv6 : 0),
							0, NULL, NULL, on_request, NULL,
							MHD_OPTION_SOCK_ADDR, cfg->addr,
							MHD_OPTION_CONNECTION_LIMIT, (unsigned int) MAX_CONNECTIONS,
							MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY,
							MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) IDLE_TIMEOUT,
							MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
							MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
							MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int) 1024,
							MHD_OPTION_END);
}

/* ---- the loop ---- */

struct stop_watch
{
	struct watcher watcher;
	int			fd;				/* signalfd of the stop signals */
	struct MHD_Daemon *daemon;
	MHD_socket	listener;
	double		deadline;
	double		grace;
};

/* MHD's own epoll set became readable: MHD_run, after every wait, takes it from there. */
static void
on_daemon_event(struct watcher *w, uint32_t events)
{
	(void) w, (void) events;
}

static void
on_stop_signal(struct watcher *w, uint32_t events)
{
	struct stop_watch *stop = (struct stop_watch *) w;
	struct signalfd_siginfo info;

	(void) events;
	if (read(stop->fd, &info, sizeof(info)) != sizeof(info) || stopping)
		return;
	fprintf(stderr, "nilus-manager: %s received, finishing requests in flight\n",
			info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	stopping = true;
	responses_close_connections();
	stop->deadline = monotonic_seconds() + stop->grace;
	stop->listener = MHD_quiesce_daemon(stop->daemon);
	/* New connections are refused at once instead of waiting in the backlog until we exit. */
	if (stop->listener != MHD_INVALID_SOCKET)
		shutdown(stop->listener, SHUT_RDWR);
}

static int
next_wakeup_ms(struct MHD_Daemon *daemon)
{
	MHD_UNSIGNED_LONG_LONG mhd_ms;
	int			ms = stopping ? 10 : IDLE_WAKEUP_MS;
	int			db_ms = db_tick_due_ms();

	if (MHD_get_timeout(daemon, &mhd_ms) == MHD_YES && mhd_ms < (MHD_UNSIGNED_LONG_LONG) ms)
		ms = (int) mhd_ms;
	return db_ms >= 0 && db_ms < ms ? db_ms : ms;
}

static bool
watch_daemon(struct MHD_Daemon *daemon, struct watcher *w)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);

	return info && loop_watch(w, info->epoll_fd, EPOLLIN);
}

bool
http_serve(struct MHD_Daemon *daemon, const sigset_t *stop_signals, double grace)
{
	struct watcher daemon_watcher = {.on_event = on_daemon_event};
	struct stop_watch stop = {.watcher.on_event = on_stop_signal, .daemon = daemon,
	.listener = MHD_INVALID_SOCKET, .grace = grace};

	stop.fd = signalfd(-1, stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
	if (stop.fd < 0 || !watch_daemon(daemon, &daemon_watcher) ||
		!loop_watch(&stop.watcher, stop.fd, EPOLLIN))
		return false;
	while (!stopping || (in_flight > 0 && monotonic_seconds() < stop.deadline))
	{
		loop_wait(next_wakeup_ms(daemon));
		db_tick();
		MHD_run(daemon);
		db_flush();
		flush_log();
	}
	if (in_flight > 0)
		fprintf(stderr, "nilus-manager: stopping with %d requests unfinished\n", in_flight);
	db_cancel_all();
	MHD_run(daemon);
	MHD_stop_daemon(daemon);
	flush_log();
	if (stop.listener != MHD_INVALID_SOCKET)
		close(stop.listener);
	close(stop.fd);
	return true;
}
