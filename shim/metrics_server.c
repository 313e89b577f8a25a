/*
 * metrics_server.c: the metrics listener.  It renders the metrics sink and
 * asks the pool's readiness check; no token, GET and HEAD only.
 */
#include "metrics_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db_ready.h"
#include "http_conn.h"
#include "loop.h"
#include "metrics.h"
#include "response.h"
#include "tls.h"

/* Probes and scrapers are few: bounds far below the API's. */
static const struct connection_limits probe_limits = {
	.max = 64, .max_per_client = 0, .header_timeout = 10, .body_timeout = 10,
};

struct metrics_server
{
	struct watcher stop_watcher;
	int			stop_fd;		/* an eventfd: written once to stop the thread */
	int			listener;
	struct connection_quota *quota;
	pthread_t	thread;
	atomic_bool stop;
};

static struct response *
metrics_response(void)
{
	size_t		len;
	char	   *text = metrics_render(&len);

	if (!text)
		return response_error(500, NULL, "internal error", NULL);
	return response_owned(200, "text/plain; version=0.0.4; charset=utf-8", text, len, free, text);
}

static struct response *
json_response(const char *json)
{
	char	   *copy = strdup(json);

	return copy ? response_owned(200, JSON_TYPE, copy, strlen(copy), free, copy) : NULL;
}

/*
 * Seconds an API loop may go without a turn before the process counts as
 * wedged: it wakes at least once a second, so this is far past any busy turn.
 */
#define STALLED_AFTER 10.0

/*
 * Liveness: every API loop still turns (a heartbeat each), so a probe
 * restarts a process of which one loop is wedged: its connections would
 * wait forever.
 */
static struct response *
health_response(void)
{
	double		stalled = loop_seconds_since_turn();
	char		why[100];

	if (stalled <= STALLED_AFTER)
		return json_response("{\"status\": \"ok\"}");
	snprintf(why, sizeof(why), "an API loop has not turned for %.0f seconds", stalled);
	return response_error(503, "stalled", why, NULL);
}

static struct response *
readiness_response(void)
{
	char		why[200];
	char		body[300];

	if (!db_ready(why, sizeof(why)))
		return response_error(503, NULL, why, NULL);
	snprintf(body, sizeof(body), "{\"status\": \"ready\", \"extension_version\": \"%s\"}",
			 NILUS_VERSION);
	return json_response(body);
}

/* Runs the readiness check on each scrape, so that an alert needs no probe of its own. */
static void
read_ready_gauge(unsigned int *values)
{
	char		why[200];

	values[0] = db_ready(why, sizeof(why));
}

static void
register_ready_gauge(void)
{
	static const struct metrics_gauge gauge = {
		.name = "nilus_manager_ready",
		.help = "1 when the database answers and its nilus extension is at this shim's "
		"version (what /readiness checks), else 0.",
		.read = read_ready_gauge,
	};

	metrics_register_gauge(&gauge);
}

/* nilus.retention_metrics()'s columns after kind, in this order. */
static const struct metrics_family retention_families[] = {
	{"nilus_retention_rows_removed_total", "counter",
	 "Rows the retention policies removed, over every tenant, by kind of data."},
	{"nilus_retention_last_rows_removed", "gauge",
	 "Rows the latest apply of the retention policies removed, over every tenant, by kind of data."},
	{"nilus_retention_last_prune_timestamp_seconds", "gauge",
	 "When retention last pruned this kind of data (Unix time); absent until it has."},
	{"nilus_retention_interval_seconds", "gauge",
	 "How often the database's retention worker applies the policies (nilus.retention_interval); "
	 "absent when no worker does."},
};
#define N_RETENTION_FAMILIES (sizeof(retention_families) / sizeof(retention_families[0]))

/* One row per kind, as nilus.retention_metrics() gives them. */
static size_t
read_retention(struct metrics_row *rows, size_t max_rows)
{
	PGresult   *res = db_ready_retention_metrics();
	size_t		n = 0;

	for (; res && n < (size_t) PQntuples(res) && n < max_rows; n++)
	{
		snprintf(rows[n].label_value, sizeof(rows[n].label_value), "%s", PQgetvalue(res, (int) n, 0));
		for (size_t f = 0; f < N_RETENTION_FAMILIES; f++)
		{
			rows[n].present[f] = !PQgetisnull(res, (int) n, (int) f + 1);
			rows[n].values[f] = strtod(PQgetvalue(res, (int) n, (int) f + 1), NULL);
		}
	}
	PQclear(res);
	return n;
}

static void
register_retention_table(void)
{
	static const struct metrics_table table = {
		.label = "kind", .families = retention_families, .n_families = N_RETENTION_FAMILIES,
		.read = read_retention,
	};

	metrics_register_table(&table);
}

static struct response *
probe_response(const struct http_head *head)
{
	if (strcmp(head->method, "GET") != 0 && strcmp(head->method, "HEAD") != 0)
		return response_not_allowed("only GET and HEAD are allowed here", "GET, HEAD");
	if (strcmp(head->path, "/metrics") == 0)
		return metrics_response();
	if (strcmp(head->path, "/health") == 0)
		return health_response();
	if (strcmp(head->path, "/readiness") == 0)
		return readiness_response();
	return response_error(404, NULL, "not found: use /metrics, /health or /readiness", NULL);
}

/* Each probe is answered from its head; a body, if any, is dropped. */
static void *
on_probe(struct http_conn *conn, const struct http_head *head)
{
	http_conn_answer(conn, probe_response(head));
	return conn;
}

static void
on_probe_body(void *request, const char *data, size_t len)
{
	(void) request, (void) data, (void) len;
}

static void
on_probe_end(void *request)
{
	(void) request;
}

static void
on_probe_done(void *request, int status, bool delivered)
{
	(void) request, (void) status, (void) delivered;
}

static void
on_probe_refused(struct http_conn *conn, int status)
{
	(void) conn;
	(void) status;
}

static const struct http_handler probe_handler = {
	.begin = on_probe,
	.body = on_probe_body,
	.end = on_probe_end,
	.done = on_probe_done,
	.refused = on_probe_refused,
};

static void
set_build_info(void)
{
	char		labels[256];

	snprintf(labels, sizeof(labels), "version=\"%s\",libpq=\"%d\",gnutls=\"%s\"",
			 NILUS_VERSION, PQlibVersion(), tls_library_version());
	metrics_set_build_info(labels);
}

static void
on_stop(struct watcher *w, uint32_t events)
{
	struct metrics_server *server = (struct metrics_server *) w;

	(void) events;
	atomic_store(&server->stop, true);
}

static void *
serve(void *arg)
{
	struct metrics_server *server = arg;
	struct http_server_config config = {
		.listener = server->listener, .handler = &probe_handler, .quota = server->quota,
	};
	struct http_server *http;

	if (!loop_init(false) || !(http = http_server_start(&config)) ||
		!loop_watch(&server->stop_watcher, server->stop_fd, EPOLLIN))
	{
		fprintf(stderr, "nilus-manager: the metrics listener cannot start (out of memory?)\n");
		return NULL;
	}
	while (!atomic_load(&server->stop))
	{
		loop_wait(1000);
		http_server_tick(http);
	}
	http_server_free(http);
	loop_free();
	return NULL;
}

struct metrics_server *
metrics_server_start(const struct sockaddr *addr)
{
	struct metrics_server *server = calloc(1, sizeof(*server));

	if (!server)
		return NULL;
	set_build_info();
	register_ready_gauge();
	register_retention_table();
	server->stop_watcher.on_event = on_stop;
	server->listener = http_listen(addr, false);
	server->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	server->quota = quota_new(&probe_limits);
	if (server->listener < 0 || server->stop_fd < 0 || !server->quota ||
		pthread_create(&server->thread, NULL, serve, server) != 0)
	{
		fprintf(stderr, "nilus-manager: metrics listener: %s\n", strerror(errno));
		if (server->listener >= 0)
			close(server->listener);
		if (server->stop_fd >= 0)
			close(server->stop_fd);
		quota_free(server->quota);
		free(server);
		return NULL;
	}
	return server;
}

void
metrics_server_stop(struct metrics_server *server)
{
	uint64_t	one = 1;

	if (!server)
		return;
	if (write(server->stop_fd, &one, sizeof(one)) != sizeof(one))
		atomic_store(&server->stop, true);
	pthread_join(server->thread, NULL);
	close(server->stop_fd);
	quota_free(server->quota);
	free(server);
}
