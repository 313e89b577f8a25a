/*
 * metrics.h: the process's counters, histograms and gauges, rendered as
 * Prometheus text exposition 0.0.4.  A sink: request paths and the pool
 * add to it lock-free, and it calls nothing of theirs; a gauge's owner
 * registers the callback that reads it when /metrics is rendered.
 */
#ifndef NILUS_METRICS_H
#define NILUS_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/* The route label of requests that match no route. */
#define METRICS_UNMATCHED ((size_t) -1)

enum db_error_kind
{
	DB_ERROR_CONNECT,			/* could not connect */
	DB_ERROR_LOST,				/* the connection broke during a request */
	DB_ERROR_CLIENT,			/* the database refused the request's values or rights (4xx) */
	DB_ERROR_SERVER,			/* any other database error (5xx) */
	DB_ERROR_TIMEOUT,			/* a call past --request-timeout (504) */
	DB_ERROR_KINDS
};

/* slot: route_pattern_slot() or METRICS_UNMATCHED. */
void		metrics_request(size_t slot, const char *method, int status, double seconds);
void		metrics_db_roundtrip(double seconds);
void		metrics_db_error(enum db_error_kind kind);
void		metrics_db_reconnect(void);

#define METRICS_GAUGE_VALUES 8	/* label values of one gauge at the most */

/*
 * A gauge with one label, or none (label NULL: one value): read fills one
 * value per label value, on the thread that renders, so it must be safe
 * from any thread.
 */
struct metrics_gauge
{
	const char *name;
	const char *help;
	const char *label;
	const char *const *label_values;
	size_t		n_values;
	void		(*read) (unsigned int *values);
};

/* Before any rendering (the metrics listener starts after the pool). */
void		metrics_register_gauge(const struct metrics_gauge *gauge);

#define METRICS_TABLE_ROWS 8	/* label values of one table at the most */
#define METRICS_TABLE_FAMILIES 4	/* families of one table at the most */
#define METRICS_LABEL_MAX 64

struct metrics_family
{
	const char *name;
	const char *type;			/* "counter" or "gauge" */
	const char *help;
};

/* One label value's samples, a value per family of its table. */
struct metrics_row
{
	char		label_value[METRICS_LABEL_MAX];
	double		values[METRICS_TABLE_FAMILIES];
	bool		present[METRICS_TABLE_FAMILIES];	/* false: no sample in that family */
};

/*
 * Families with one label whose samples are read together, once per
 * rendering (e.g. from one query): read fills up to max_rows rows and
 * returns how many; with none, the families appear without samples.  It
 * runs on the thread that renders.
 */
struct metrics_table
{
	const char *label;
	const struct metrics_family *families;
	size_t		n_families;
	size_t		(*read) (struct metrics_row *rows, size_t max_rows);
};

/* Before any rendering, as gauges. */
void		metrics_register_table(const struct metrics_table *table);
/* The labels of nilus_manager_build_info, as k="v" pairs. */
void		metrics_set_build_info(const char *labels);

/* The whole exposition as a malloc'd text; NULL when out of memory. */
char	   *metrics_render(size_t *len);

#endif
