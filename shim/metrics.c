/*
 * metrics.c: the counters and histograms, and their Prometheus text.
 *
 * Each thread that counts (an API loop, the metrics loop) adds to counts of
 * its own, which /metrics sums over the threads: requests on different cores
 * never write the same cache line, as the loops share nothing else on the
 * request path (nginx's workers and h2o's threads keep their statistics
 * apart the same way).  Histogram buckets are kept per bucket (not
 * cumulative) and summed when rendered, so a scrape racing with requests
 * still sees monotonic buckets and a count that equals the +Inf bucket.
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stddef.h>
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

/*
 * One thread's counts.  Atomics still, so that a scrape reads whole values,
 * but only their thread adds to them: the adds find the line in their own
 * core's cache.
 */
struct counts
{
	atomic_ulong requests[N_ROUTE_LABELS][N_METHODS][N_STATUSES];
	struct histogram durations[N_ROUTE_LABELS][N_METHODS];
	struct histogram db_roundtrip;
	atomic_ulong db_errors[DB_ERROR_KINDS];
	atomic_ulong reconnects;
	struct counts *next;		/* the thread that counted before this one */
};

/* Every thread's counts, newest first; they live as long as the process. */
static _Atomic(struct counts *) all_counts;
static _Thread_local struct counts *own_counts;

/* Where a thread counts when its own counts cannot be allocated: shared, still exact. */
static struct counts shared_counts;
static atomic_flag shared_counts_listed = ATOMIC_FLAG_INIT;

static void
list_counts(struct counts *counts)
{
	struct counts *head = atomic_load(&all_counts);

	do
		counts->next = head;
	while (!atomic_compare_exchange_weak(&all_counts, &head, counts));
}

static struct counts *
thread_counts(void)
{
	if (own_counts)
		return own_counts;
	own_counts = calloc(1, sizeof(struct counts));
	if (own_counts)
		list_counts(own_counts);
	else
	{
		own_counts = &shared_counts;
		if (!atomic_flag_test_and_set(&shared_counts_listed))
			list_counts(&shared_counts);
	}
	return own_counts;
}

/* The sum over every thread's counts of the counter at offset (offsetof struct counts). */
static unsigned long
summed(size_t offset)
{
	unsigned long sum = 0;

	for (struct counts *c = atomic_load(&all_counts); c; c = c->next)
		sum += atomic_load_explicit((atomic_ulong *) ((char *) c + offset), memory_order_relaxed);
	return sum;
}

#define SUMMED(counter) summed(offsetof(struct counts, counter))

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
	atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, (unsigned long) (seconds * 1e9), memory_order_relaxed);
}

static void
count(atomic_ulong *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

void
metrics_request(size_t slot, const char *method, int status, double seconds)
{
	size_t		label = slot == METRICS_UNMATCHED ? MAX_ROUTES : slot;
	size_t		m = method_index(method);

	count(&thread_counts()->requests[label][m][status_index(status)]);
	observe(&thread_counts()->durations[label][m], seconds);
}

void
metrics_db_roundtrip(double seconds)
{
	observe(&thread_counts()->db_roundtrip, seconds);
}

void
metrics_db_error(enum db_error_kind kind)
{
	count(&thread_counts()->db_errors[kind]);
}

void
metrics_db_reconnect(void)
{
	count(&thread_counts()->reconnects);
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

/*
 * labels: already rendered "k=\"v\"" pairs, without braces; histogram: the
 * offset of the histogram in struct counts.
 */
static void
render_histogram(FILE *out, const char *name, const char *labels, size_t histogram)
{
	unsigned long cumulative = 0;
	const char *sep = labels[0] ? "," : "";

	for (size_t i = 0; i <= N_BUCKETS; i++)
	{
		cumulative += summed(histogram + offsetof(struct histogram, counts[i]));
		if (i < N_BUCKETS)
			fprintf(out, "%s_bucket{%s%sle=\"%g\"} %lu\n", name, labels, sep, buckets[i],
					cumulative);
		else
			fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %lu\n", name, labels, sep, cumulative);
	}
	fprintf(out, "%s_sum%s%s%s %.9f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
			(double) summed(histogram + offsetof(struct histogram, sum_ns)) / 1e9);
	fprintf(out, "%s_count%s%s%s %lu\n", name, labels[0] ? "{" : "", labels,
			labels[0] ? "}" : "", cumulative);
}

static bool
histogram_empty(size_t histogram)
{
	for (size_t i = 0; i <= N_BUCKETS; i++)
		if (summed(histogram + offsetof(struct histogram, counts[i])))
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
				unsigned long n = SUMMED(requests[r][m][s]);

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
			size_t		histogram = offsetof(struct counts, durations[r][m]);

			if (histogram_empty(histogram))
				continue;
			snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\"", route_label(r),
					 methods[m]);
			render_histogram(out, "nilus_manager_http_request_duration_seconds", labels, histogram);
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
	render_histogram(out, "nilus_manager_db_roundtrip_seconds", "", offsetof(struct counts, db_roundtrip));
	for (size_t i = 0; i < n_gauges; i++)
		render_gauge(out, &gauges[i]);
	family(out, "nilus_manager_db_errors_total", "counter",
		   "Database errors: connect (could not connect), lost (connection broke in a request), "
		   "client (refused the request, 4xx), server (any other, 5xx), timeout (a call not "
		   "answered within --request-timeout, waiting for a connection included: 504).");
	for (size_t k = 0; k < DB_ERROR_KINDS; k++)
		fprintf(out, "nilus_manager_db_errors_total{kind=\"%s\"} %lu\n", db_error_kinds[k],
				SUMMED(db_errors[k]));
	family(out, "nilus_manager_db_reconnects_total", "counter",
		   "Database connections opened again after one was lost.");
	fprintf(out, "nilus_manager_db_reconnects_total %lu\n", SUMMED(reconnects));
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
