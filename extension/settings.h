/*
 * settings.h: the nilus.* settings (GUCs), which any layer may read.
 */
#ifndef NILUS_SETTINGS_H
#define NILUS_SETTINGS_H

/* nilus.retention_interval, in seconds: how often the background worker applies retention; 0 = never. */
extern int	nilus_retention_interval;

/* The database-native API (README "Deploying"); defined only when preloaded. */
extern char *nilus_http_listen;
extern char *nilus_metrics_listen;
extern char *nilus_http_database;
extern char *nilus_http_dsn;
extern int	nilus_http_threads;
extern int	nilus_http_loops;
extern int	nilus_http_max_body;
extern char *nilus_http_docs_dir;
extern char *nilus_http_program;
extern int	nilus_http_log_format;	/* a NilusLogFormat */

/* nilus.http_log_format's values: the shim's --log-format. */
typedef enum NilusLogFormat
{
	NILUS_LOG_FORMAT_TEXT,
	NILUS_LOG_FORMAT_JSON
} NilusLogFormat;

/* The --log-format word of a NilusLogFormat. */
extern const char *nilus_log_format_name(int format);

/* Defines the settings of every session; called once, from _PG_init. */
extern void nilus_define_settings(void);

/*
 * Defines the settings of the background workers and reserves the prefix;
 * from _PG_init, after nilus_define_settings(), when preloading.
 */
extern void nilus_define_preload_settings(void);

#endif							/* NILUS_SETTINGS_H */
