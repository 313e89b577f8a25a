/*
 * settings.c: the nilus.* settings (GUCs).  nilus.retention_interval is
 * defined whenever the library loads, so that SHOW answers in every session.
 * The API's settings configure a background worker: they are defined only
 * when the library is preloaded, and only then is the prefix reserved (every
 * nilus.* setting exists by then).  In a backend that loads the library
 * lazily, reserving it would turn the API's lines of postgresql.conf into a
 * warning each time.  Every one is PGC_SIGHUP: a reload applies it, the
 * supervisor restarting the API when one of its own changed.
 */
#include "postgres.h"

#include <limits.h>

#include "settings.h"

#include "compat.h"
#include "nilus_api.h"
#include "utils/guc.h"

#ifndef NILUS_MANAGER_PATH
#define NILUS_MANAGER_PATH "/usr/local/bin/nilus-manager"
#endif

#define DEFAULT_MAX_BODY (8 * 1024 * 1024)

int			nilus_retention_interval = 3600;

char	   *nilus_http_listen = NULL;
char	   *nilus_metrics_listen = NULL;
char	   *nilus_http_database = NULL;
char	   *nilus_http_dsn = NULL;
int			nilus_http_threads = 0;
int			nilus_http_loops = 0;
int			nilus_http_max_body = DEFAULT_MAX_BODY;
char	   *nilus_http_docs_dir = NULL;
char	   *nilus_http_program = NULL;
int			nilus_http_log_format = NILUS_LOG_FORMAT_TEXT;

static const struct config_enum_entry log_formats[] = {
	{"text", NILUS_LOG_FORMAT_TEXT, false},
	{"json", NILUS_LOG_FORMAT_JSON, false},
	{NULL, 0, false}
};

const char *
nilus_log_format_name(int format)
{
	return log_formats[format].name;
}

void
nilus_define_settings(void)
{
	DefineCustomIntVariable("nilus.retention_interval",
							"How often the background worker applies the retention policies.",
							"0: never (CALL nilus.apply_retention() still works).",
							&nilus_retention_interval, 3600, 0, INT_MAX, PGC_SIGHUP,
							GUC_UNIT_S, NULL, NULL, NULL);
}

static void
define_string(const char *name, const char *description, char **variable, const char *default_value,
			  int flags)
{
	DefineCustomStringVariable(name, description, NULL, variable, default_value, PGC_SIGHUP, flags,
							   NULL, NULL, NULL);
}

static void
define_int(const char *name, const char *description, int *variable, int default_value, int min,
		   int max, int flags)
{
	DefineCustomIntVariable(name, description, NULL, variable, default_value, min, max, PGC_SIGHUP,
							flags, NULL, NULL, NULL);
}

void
nilus_define_preload_settings(void)
{
	define_string("nilus.http_listen",
				  "HOST:PORT the HTTP API listens on when PostgreSQL runs it; empty: not started.",
				  &nilus_http_listen, "", 0);
	define_string("nilus.metrics_listen",
				  "HOST:PORT of the HTTP API's metrics and probes listener; empty: none.",
				  &nilus_metrics_listen, "", 0);
	define_string("nilus.http_database",
				  "Database the HTTP API connects to (where CREATE EXTENSION nilus ran).",
				  &nilus_http_database, "postgres", 0);
	/* It may hold a password: shown to superusers only. */
	define_string("nilus.http_dsn",
				  "libpq connection string of the HTTP API; host and port default to this server's, dbname to nilus.http_database.",
				  &nilus_http_dsn, "", GUC_SUPERUSER_ONLY);
	define_string("nilus.http_docs_dir",
				  "Directory of the API documentation's scripts and stylesheets; empty: nilus-manager's default.",
				  &nilus_http_docs_dir, "", 0);
	define_string("nilus.http_program", "The nilus-manager executable PostgreSQL runs.",
				  &nilus_http_program, NILUS_MANAGER_PATH, GUC_SUPERUSER_ONLY);
	define_int("nilus.http_threads",
			   "Database connections of the HTTP API, split over its event loops; 0: one per core.",
			   &nilus_http_threads, 0, 0, 1024, 0);
	define_int("nilus.http_loops",
			   "Event loops (threads) of the HTTP API, each with its share of nilus.http_threads; 0: one per core.",
			   &nilus_http_loops, 0, 0, NILUS_LOOPS_MAX, 0);
	define_int("nilus.http_max_body", "Largest request body the HTTP API accepts.",
			   &nilus_http_max_body, DEFAULT_MAX_BODY, 1, INT_MAX, GUC_UNIT_BYTE);
	DefineCustomEnumVariable("nilus.http_log_format",
							 "The HTTP API's access log lines in PostgreSQL's log: text, or json (one JSON object each).",
							 NULL, &nilus_http_log_format, NILUS_LOG_FORMAT_TEXT, log_formats, PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	NILUS_MARK_GUC_PREFIX_RESERVED("nilus");
}
