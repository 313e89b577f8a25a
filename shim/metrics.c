/*
 * metrics.c: the counters and histograms, and their Prometheus text.
 *
 * Request paths only add to atomics; /metrics reads them.  Histogram buckets
 * are kept per bucket (not cumulative) and summed when rendered, so a
 * scrape racing with requests still sees monotonic buckets and a count that
 * equals the +Inf bucket.
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

static const char *const methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"
};
#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

/* Every status the shim answers with; anything else would be counted as 500. */
static const int statuses[] = {
	500, 200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 414, 415, 503
};
#define N_STATUSES (sizeof(statuses) / sizeof(statuses[0]))

static const double buckets[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

/* Pattern slots plus one for requests that match no route. */
#define N_ROUTE_LABELS (MAX_ROUTES + 1)

struct histogram
{
	atomic_ulong counts[N_BUCKETS + 1];	/* the last one is +Inf only */
	atomic_ulong sum_ns;
};

static atomic_ulong requests[N_ROUTE_LABELS][N_METHODS][N_STATUSES];
static struct histogram durations[N_ROUTE_LABELS][N_METHODS];
static struct histogram db_roundtrip;
static atomic_ulong db_errors[DB_ERROR_KINDS];
static atomic_ulong reconnects;

static const char *const db_error_kinds[DB_ERROR_KINDS] = {"connect", "lost", "client", "server", "timeout"};

#define MAX_GAUGES 4
static struct metrics_gauge gauges[MAX_GAUGES];
static size_t n_gauges;
#define MAX_TABLES 2
static struct metrics_table tables[MAX_TABLES];
static size_t n_tables;
static char build_info[256];

static size_t
method_index(const char *method)
{
	size_t		i = 0;

	while (i < N_METHODS - 1 && strcmp(methods[i], method) != 0)
		i++;
	return i;
}

static size_t
status_index(int status)
{
	for (size_t i = 0; i < N_STATUSES; i++)
		if (statuses[i] == status)
			return i;
	return 0;
}

static void
observe(struct histogram *h, double seconds)
{
	size_t		i = 0;

	while (i < N_BUCKETS && seconds > buckets[i])
		i++;
	atomic_fetch_add(&h->counts[i], 1);
	atomic_fetch_add(&h->sum_ns, (unsigned long) (seconds * 1e9));
}

void
metrics_request(size_t slot, const char *method, int status, double seconds)
{
	size_t		label = slot == METRICS_UNMATCHED ? MAX_ROUTES : slot;
	size_t		m = method_index(method);

	atomic_fetch_add(&requests[label][m][status_index(status)], 1);
	observe(&durations[label][m], seconds);
}

void
metrics_db_roundtrip(double seconds)
{
	observe(&db_roundtrip, seconds);
}

void
metrics_db_error(enum db_error_kind kind)
{
	atomic_fetch_add(&db_errors[kind], 1);
}

void
metrics_db_reconnect(void)
{
	atomic_fetch_add(&reconnects, 1);
}

void
metrics_register_gauge(const struct metrics_gauge *gauge)
{
	if (n_gauges < MAX_GAUGES)
		gauges[n_gauges++] = *gauge;
}

void
metrics_register_table(const struct metrics_table *table)
{
	if (n_tables < MAX_TABLES)
		tables[n_tables++] = *table;
}

void
metrics_set_build_info(const char *labels)
{
	snprintf(build_info, sizeof(build_info), "%s", labels);
}

/* ---- rendering ---- */

static const char *
route_label(size_t label)
{
	return label == MAX_ROUTES ? "unmatched" : route_pattern(label);
}

static void
family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* labels: already rendered "k=\"v\"" pairs, without braces. */
static void
render_histogram(FILE *out, const char *name, const char *labels, struct histogram *h)
{
	unsigned long cumulative = 0;
	const char *sep = labels[0] ? "," : "";

	for (size_t i = 0; i <= N_BUCKETS; i++)
	{
		cumulative += atomic_load(&h->counts[i]);
		if (i < N_BUCKETS)
			fprintf(out, "%s_bucket{%s%sle=\"%g\"} %lu\n", name, labels, sep, buckets[i],
					cumulative);
		else
			fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %lu\n", name, labels, sep, cumulative);
	}
	fprintf(out, "%s_sum%s%s%s %.9f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
			(double) atomic_load(&h->sum_ns) / 1e9);
	fprintf(out, "%s_count%s%s%s %lu\n", name, labels[0] ? "{" : "", labels,
			labels[0] ? "}" : "", cumulative);
}

static bool
histogram_empty(struct histogram *h)
{
	for (size_t i = 0; i <= N_BUCKETS; i++)
		if (atomic_load(&h->counts[i]))
			return false;
	return true;
}

static bool
label_used(size_t label)
{
	return label == MAX_ROUTES || label < route_pattern_count();
}

static void
render_requests(FILE *out)
{
	family(out, "nilus_manager_http_requests_total", "counter",
		   "HTTP requests answered, by route pattern, method and status.");
	for (size_t r = 0; r < N_ROUTE_LABELS; r++)
		for (size_t m = 0; m < N_METHODS && label_used(r); m++)
			for (size_t s = 0; s < N_STATUSES; s++)
			{
				unsigned long n = atomic_load(&requests[r][m][s]);

				if (n)
					fprintf(out, "nilus_manager_http_requests_total{route=\"%s\",method=\"%s\","
							"status=\"%d\"} %lu\n", route_label(r), methods[m], statuses[s], n);
			}
}

static void
render_durations(FILE *out)
{
	family(out, "nilus_manager_http_request_duration_seconds", "histogram",
		   "Time from a request's arrival to its answer, by route pattern and method.");
	for (size_t r = 0; r < N_ROUTE_LABELS; r++)
		for (size_t m = 0; m < N_METHODS && label_used(r); m++)
		{
			char		labels[256];

			if (histogram_empty(&durations[r][m]))
				continue;
			snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\"", route_label(r),
					 methods[m]);
			render_histogram(out, "nilus_manager_http_request_duration_seconds", labels,
							 &durations[r][m]);
		}
}

static void
render_gauge(FILE *out, const struct metrics_gauge *gauge)
{
	unsigned int values[METRICS_GAUGE_VALUES] = {0};

	gauge->read(values);
	family(out, gauge->name, "gauge", gauge->help);
	if (!gauge->label)
		fprintf(out, "%s %u\n", gauge->name, values[0]);
	for (size_t i = 0; gauge->label && i < gauge->n_values && i < METRICS_GAUGE_VALUES; i++)
		fprintf(out, "%s{%s=\"%s\"} %u\n", gauge->name, gauge->label, gauge->label_values[i],
				values[i]);
}

/* A label value as the exposition format writes it: backslash, quote and newline escaped. */
static void
label_value(FILE *out, const char *value)
{
	for (const char *c = value; *c; c++)
	{
		if (*c == '\\' || *c == '"')
			fputc('\\', out);
		if (*c == '\n')
			fputs("\\n", out);
		else
			fputc(*c, out);
	}
}

static void
render_table(FILE *out, const struct metrics_table *table)
{
	struct metrics_row rows[METRICS_TABLE_ROWS];
	size_t		n_rows;

	memset(rows, 0, sizeof(rows));
	n_rows = table->read(rows, METRICS_TABLE_ROWS);
	for (size_t f = 0; f < table->n_families && f < METRICS_TABLE_FAMILIES; f++)
	{
		family(out, table->families[f].name, table->families[f].type, table->families[f].help);
		for (size_t r = 0; r < n_rows && r < METRICS_TABLE_ROWS; r++)
		{
			if (!rows[r].present[f])
				continue;
			fprintf(out, "%s{%s=\"", table->families[f].name, table->label);
			label_value(out, rows[r].label_value);
			fprintf(out, "\"} %.17g\n", rows[r].values[f]);
		}
	}
}

static void
render_db(FILE *out)
{
	family(out, "nilus_manager_db_roundtrip_seconds", "histogram",
		   "Time of one request's database round trip (authentication and the route's "
		   "function), from sending it to its answer, behind the requests before it on its connection.");
	render_histogram(out, "nilus_manager_db_roundtrip_seconds", "", &db_roundtrip);
	for (size_t i = 0; i < n_gauges; i++)
		render_gauge(out, &gauges[i]);
	family(out, "nilus_manager_db_errors_total", "counter",
		   "Database errors: connect (could not connect), lost (connection broke in a request), "
		   "client (refused the request, 4xx), server (any other, 5xx), timeout (a call not "
		   "answered within --request-timeout, waiting for a connection included: 504).");
	for (size_t k = 0; k < DB_ERROR_KINDS; k++)
		fprintf(out, "nilus_manager_db_errors_total{kind=\"%s\"} %lu\n", db_error_kinds[k],
				atomic_load(&db_errors[k]));
	family(out, "nilus_manager_db_reconnects_total", "counter",
		   "Database connections opened again after one was lost.");
	fprintf(out, "nilus_manager_db_reconnects_total %lu\n", atomic_load(&reconnects));
}

char *
metrics_render(size_t *len)
{
	char	   *text = NULL;
	FILE	   *out = open_memstream(&text, len);

	if (!out)
		return NULL;
	render_requests(out);
	render_durations(out);
	render_db(out);
	for (size_t i = 0; i < n_tables; i++)
		render_table(out, &tables[i]);
	family(out, "nilus_manager_build_info", "gauge",
		   "Always 1; the labels say which build is running.");
	fprintf(out, "nilus_manager_build_info{%s} 1\n", build_info);
	if (fclose(out) != 0)
	{
		free(text);
		return NULL;
	}
	return text;
}
