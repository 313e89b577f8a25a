/*
 * metrics_server.c: the metrics listener.  It renders the metrics sink and
 * asks the pool's readiness check; no token, GET and HEAD only.
 */
#include "metrics_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <microhttpd.h>

#include "db_ready.h"
#include "loop.h"
#include "metrics.h"
#include "response.h"

static struct MHD_Response *
metrics_response(int *status)
{
	size_t		len;
	char	   *text = metrics_render(&len);

	if (!text)
	{
		*status = 500;
		return response_error(500, NULL, "internal error", NULL);
	}
	*status = 200;
	return response_owned("text/plain; version=0.0.4; charset=utf-8", text, len, free, text);
}

static struct MHD_Response *
json_response(const char *json)
{
	char	   *copy = strdup(json);

	return copy ? response_owned(JSON_TYPE, copy, strlen(copy), free, copy) : NULL;
}

/*
 * Seconds the API loop may go without a turn before the process counts as
 * wedged: it wakes at least once a second, so this is far past any busy turn.
 */
#define STALLED_AFTER 10.0

/* Liveness: the API loop still turns (a heartbeat), so a probe restarts a wedged process. */
static struct MHD_Response *
health_response(int *status)
{
	double		stalled = loop_seconds_since_turn();
	char		why[100];

	if (stalled <= STALLED_AFTER)
		return json_response("{\"status\": \"ok\"}");
	*status = 503;
	snprintf(why, sizeof(why), "the API loop has not turned for %.0f seconds", stalled);
	return response_error(503, "stalled", why, NULL);
}

static struct MHD_Response *
readiness_response(int *status)
{
	char		why[200];
	char		body[300];

	if (!db_ready(why, sizeof(why)))
	{
		*status = 503;
		return response_error(503, NULL, why, NULL);
	}
	*status = 200;
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

static enum MHD_Result
on_probe(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
		 const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct MHD_Response *response;
	int			status = 200;

	(void) cls, (void) version, (void) upload_data;
	/* Answered once the request is read: MHD closes connections answered earlier. */
	if (*req_cls == NULL)
	{
		*req_cls = connection;
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
	{
		status = 405;
		response = response_not_allowed("only GET and HEAD are allowed here", "GET, HEAD");
	}
	else if (strcmp(url, "/metrics") == 0)
		response = metrics_response(&status);
	else if (strcmp(url, "/health") == 0)
		response = health_response(&status);
	else if (strcmp(url, "/readiness") == 0)
		response = readiness_response(&status);
	else
	{
		status = 404;
		response = response_error(404, NULL, "not found: use /metrics, /health or /readiness", NULL);
	}
	return reply(connection, status, response) ? MHD_YES : MHD_NO;
}

static void
set_build_info(void)
{
	char		labels[256];

	snprintf(labels, sizeof(labels), "version=\"%s\",libpq=\"%d\",libmicrohttpd=\"%s\"",
			 NILUS_VERSION, PQlibVersion(), MHD_get_version());
	metrics_set_build_info(labels);
}

struct MHD_Daemon *
metrics_server_start(const struct sockaddr *addr, int ipv6)
{
	set_build_info();
	register_ready_gauge();
	register_retention_table();
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
							(ipv6 ? MHD_USE_IPv6 : 0),
							0, NULL, NULL, on_probe, NULL,
							MHD_OPTION_SOCK_ADDR, addr,
							MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 16384,
							MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 30,
							MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 64,
							MHD_OPTION_END);
}
