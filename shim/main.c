/*
 * main.c: configuration (flags, then environment, then defaults), start,
 * and the graceful stop on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "access_log.h"
#include "db.h"
#include "db_ready.h"
#include "api_server.h"
#include "loop.h"
#include "metrics_server.h"
#include "openapi.h"
#include "routes.h"

#ifndef NILUS_DOCS_DIR
#define NILUS_DOCS_DIR "/usr/local/share/nilus-manager/docs"
#endif

#define STOP_GRACE 30.0			/* seconds requests in flight get to finish */
#define MAX_PEM (1024 * 1024)		/* a certificate chain or key file */
#define MAX_DSN (64 * 1024)			/* a --dsn-file */
#define DSN_FILE_RULE "must hold a connection string on its first line, at most 64 KiB"

struct options
{
	const char *dsn;
	const char *dsn_file;
	const char *listen;
	const char *metrics_listen;
	const char *threads;
	const char *loops;
	const char *max_body;
	const char *docs_dir;
	const char *max_connections;
	const char *max_per_client;
	const char *header_timeout;
	const char *body_timeout;
	const char *tls_cert;
	const char *tls_key;
	const char *request_timeout;
	const char *log_format;
};

struct listen_addr
{
	struct sockaddr_storage addr;
};

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: nilus-manager [--dsn DSN | --dsn-file FILE] [--listen HOST:PORT]\n"
			"                     [--metrics-listen HOST:PORT]\n"
			"                     [--threads N] [--loops N] [--max-body BYTES] [--docs-dir DIR]\n"
			"                     [--max-connections N] [--max-connections-per-client N]\n"
			"                     [--header-timeout SECONDS] [--body-timeout SECONDS]\n"
			"                     [--tls-cert FILE --tls-key FILE] [--request-timeout SECONDS]\n"
			"                     [--log-format text|json]\n"
			"Each flag falls back to an environment variable: NILUS_DSN, NILUS_DSN_FILE, NILUS_LISTEN,\n"
			"NILUS_METRICS_LISTEN, NILUS_THREADS, NILUS_LOOPS, NILUS_MAX_BODY, NILUS_DOCS_DIR,\n"
			"NILUS_MAX_CONNECTIONS, NILUS_MAX_CONNECTIONS_PER_CLIENT, NILUS_HEADER_TIMEOUT,\n"
			"NILUS_BODY_TIMEOUT, NILUS_TLS_CERT, NILUS_TLS_KEY, NILUS_REQUEST_TIMEOUT,\n"
			"NILUS_LOG_FORMAT.\n"
			"--tls-cert and --tls-key (PEM files) serve the API over TLS 1.2 or 1.3 only.\n"
			"--threads N is how many database connections carry requests, split over the loops.\n"
			"--loops N is how many event loops (threads) serve the API, each with its own listening\n"
			"socket on the --listen address (SO_REUSEPORT) and its share of the --threads database\n"
			"connections: --threads / N, the first --threads %% N loops one more, at least 1 each\n"
			"(so max(--threads, N) in all); --max-connections and the per-client limit count the\n"
			"connections of every loop together.\n"
			"--dsn-file FILE reads the connection string from FILE: keep passwords off the command\n"
			"line (or in a password file, PGPASSFILE).\n"
			"Defaults: DSN from the libpq environment (PGHOST, PGPORT, ...), --listen 0.0.0.0:8080,\n"
			"--metrics-listen 0.0.0.0:9090 (none: no metrics listener), --threads = number of cores,\n"
			"--loops = number of cores,\n"
			"--max-body 8MiB, --docs-dir %s, --max-connections 1000,\n"
			"--max-connections-per-client = half of --max-connections (0 = no limit),\n"
			"--header-timeout 10 (the request head, or the wait for the next one on keep-alive),\n"
			"--body-timeout 60 (the whole body, from the end of the head),\n"
			"--request-timeout 30 (a database call past it is cancelled: 504),\n"
			"--log-format text (json: one JSON object per access log line).\n", NILUS_DOCS_DIR);
}

static const char *
from_env(const char *value, const char *variable, const char *fallback)
{
	const char *env = getenv(variable);

	if (value)
		return value;
	return env && *env ? env : fallback;
}

static void
parse_flags(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"dsn", required_argument, NULL, 'd'},
		{"dsn-file", required_argument, NULL, 'f'},
		{"listen", required_argument, NULL, 'l'},
		{"metrics-listen", required_argument, NULL, 'm'},
		{"threads", required_argument, NULL, 't'},
		{"loops", required_argument, NULL, 'O'},
		{"max-body", required_argument, NULL, 'b'},
		{"docs-dir", required_argument, NULL, 'D'},
		{"max-connections", required_argument, NULL, 'c'},
		{"max-connections-per-client", required_argument, NULL, 'C'},
		{"header-timeout", required_argument, NULL, 'H'},
		{"body-timeout", required_argument, NULL, 'B'},
		{"tls-cert", required_argument, NULL, 'P'},
		{"tls-key", required_argument, NULL, 'K'},
		{"request-timeout", required_argument, NULL, 'T'},
		{"log-format", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd': o->dsn = optarg; break;
			case 'f': o->dsn_file = optarg; break;
			case 'l': o->listen = optarg; break;
			case 'm': o->metrics_listen = optarg; break;
			case 't': o->threads = optarg; break;
			case 'O': o->loops = optarg; break;
			case 'b': o->max_body = optarg; break;
			case 'D': o->docs_dir = optarg; break;
			case 'c': o->max_connections = optarg; break;
			case 'C': o->max_per_client = optarg; break;
			case 'H': o->header_timeout = optarg; break;
			case 'B': o->body_timeout = optarg; break;
			case 'P': o->tls_cert = optarg; break;
			case 'K': o->tls_key = optarg; break;
			case 'T': o->request_timeout = optarg; break;
			case 'L': o->log_format = optarg; break;
			case 'h': usage(stdout); exit(0);
			case 'V': printf("nilus-manager %s\n", NILUS_VERSION); exit(0);
			default: usage(stderr); exit(2);
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "nilus-manager: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		exit(2);
	}
}

static void
fail(const char *what, const char *value, const char *why)
{
	fprintf(stderr, "nilus-manager: invalid %s \"%s\": %s\n", what, value, why);
	exit(2);
}

/* A number of bytes, with an optional binary suffix: 8388608, 8192k, 8M, 1G. */
static size_t
parse_size(const char *text)
{
	char	   *end;
	unsigned long long n;
	int			shift = 0;

	errno = 0;
	n = strtoull(text, &end, 10);
	if (*end == 'k' || *end == 'K')
		shift = 10, end++;
	else if (*end == 'm' || *end == 'M')
		shift = 20, end++;
	else if (*end == 'g' || *end == 'G')
		shift = 30, end++;
	if (end[0] == 'i' && end[1] == 'B')
		end += 2;
	else if (shift && *end == 'B')
		end++;
	if (errno || end == text || *end || n == 0 || text[0] == '-' || n > (1ULL << 32) >> shift)
		fail("--max-body", text, "must be a number of bytes from 1 to 4G (suffixes k, M, G)");
	return (size_t) (n << shift);
}

/*
 * A small file's text, NUL-terminated, read once at start; NULL with why
 * when it cannot be (rule: what it must be).
 */
static char *
read_small_file(const char *path, size_t max, const char *rule, const char **why)
{
	FILE	   *f = fopen(path, "r");
	char	   *text = f ? malloc(max + 1) : NULL;
	size_t		len = text ? fread(text, 1, max + 1, f) : 0;

	*why = !f ? strerror(errno) : rule;
	if (f && (ferror(f) || len == 0 || len > max))
		len = 0;
	if (f)
		fclose(f);
	if (len == 0)
	{
		free(text);
		return NULL;
	}
	text[len] = '\0';
	return text;
}

static char *
read_pem(const char *path, const char **why)
{
	return read_small_file(path, MAX_PEM, "must be a PEM file of at most 1 MiB", why);
}

/* The DSN's text when main.c holds its own copy (a blanked --dsn, a --dsn-file); db_init copies it. */
static char *owned_dsn;

static bool
dsn_has_password(const char *dsn)
{
	PQconninfoOption *options = PQconninfoParse(dsn, NULL);
	bool		found = false;

	for (PQconninfoOption *option = options; option && option->keyword; option++)
		found |= strcmp(option->keyword, "password") == 0 && option->val && *option->val;
	PQconninfoFree(options);
	return found;
}

/*
 * A password in --dsn is readable by every user of the machine (ps,
 * /proc/<pid>/cmdline).  Like psql, it is taken, with a warning; like the
 * mysql client, the argument is blanked at once, which shortens the window.
 */
static void
protect_dsn_argument(struct options *o)
{
	char	   *argument = (char *) o->dsn;

	if (!argument || !dsn_has_password(argument))
		return;
	fprintf(stderr, "nilus-manager: warning: --dsn holds a password, which other users of this "
			"machine can read in the process list; put it in a password file (PGPASSFILE), "
			"NILUS_DSN or --dsn-file instead\n");
	o->dsn = owned_dsn = strdup(argument);
	if (!owned_dsn)
		fail("--dsn", "", "out of memory");
	memset(argument, 'x', strlen(argument));
}

/* The connection string: --dsn or --dsn-file, else NILUS_DSN or NILUS_DSN_FILE, else libpq's environment. */
static const char *
resolve_dsn(const struct options *o)
{
	const char *dsn = o->dsn ? o->dsn : (o->dsn_file ? NULL : getenv("NILUS_DSN"));
	const char *file = o->dsn_file ? o->dsn_file : (o->dsn ? NULL : getenv("NILUS_DSN_FILE"));
	const char *why;
	char	   *text;

	if (dsn && *dsn && file && *file)
		fail("--dsn-file", file, "give either a DSN (--dsn, NILUS_DSN) or a DSN file (--dsn-file, NILUS_DSN_FILE)");
	if (!file || !*file)
		return dsn ? dsn : "";
	text = owned_dsn = read_small_file(file, MAX_DSN, DSN_FILE_RULE, &why);
	if (!text)
		fail("--dsn-file", file, why);
	text[strcspn(text, "\r\n")] = '\0';	/* one line: what `echo ... > file` leaves */
	if (!*text)
		fail("--dsn-file", file, DSN_FILE_RULE);
	return text;
}

static void
load_tls(const struct options *o, struct api_server_config *config)
{
	const char *why;

	if (!o->tls_cert != !o->tls_key)
		fail(o->tls_cert ? "--tls-key" : "--tls-cert", "", "--tls-cert and --tls-key go together");
	if (!o->tls_cert)
		return;
	config->tls_cert = read_pem(o->tls_cert, &why);
	if (!config->tls_cert)
		fail("--tls-cert", o->tls_cert, why);
	config->tls_key = read_pem(o->tls_key, &why);
	if (!config->tls_key)
	{
		free(config->tls_cert);
		fail("--tls-key", o->tls_key, why);
	}
}

static unsigned int
online_cores(void)
{
	long		cores = sysconf(_SC_NPROCESSORS_ONLN);

	return cores > 0 ? (unsigned int) cores : 1;
}

/* One loop per core, as many as a heartbeat each allows. */
static unsigned int
default_loops(void)
{
	unsigned int cores = online_cores();

	return cores < LOOPS_MAX ? cores : LOOPS_MAX;
}

/* A whole number from min to max; the flag's name is in the error. */
static unsigned int
parse_number(const char *flag, const char *text, long min, long max)
{
	char	   *end;
	long		n;
	char		why[64];

	errno = 0;
	n = strtol(text, &end, 10);
	if (errno || end == text || *end || n < min || n > max)
	{
		snprintf(why, sizeof(why), "must be a number from %ld to %ld", min, max);
		fail(flag, text, why);
	}
	return (unsigned int) n;
}

static struct connection_limits
parse_limits(const struct options *o)
{
	return (struct connection_limits) {
		.max = parse_number("--max-connections", o->max_connections, 1, 100000),
		.header_timeout = parse_number("--header-timeout", o->header_timeout, 1, 3600),
		.body_timeout = parse_number("--body-timeout", o->body_timeout, 1, 3600),
	};
}

/* getaddrinfo takes 99999 and wraps it: the range is checked here. */
static bool
port_ok(const char *port)
{
	size_t		len = strspn(port, "0123456789");

	return len > 0 && len <= 5 && port[len] == '\0' && atoi(port) >= 1 && atoi(port) <= 65535;
}

/* HOST:PORT, [IPv6]:PORT or :PORT (every address). */
static void
parse_listen(const char *what, const char *text, struct listen_addr *out)
{
	char		host[256];
	const char *colon = strrchr(text, ':');
	const char *start = text;
	size_t		hlen = colon ? (size_t) (colon - text) : 0;
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
	struct addrinfo *found;
	int			rc;

	if (!colon || hlen >= sizeof(host) || !port_ok(colon + 1))
		fail(what, text, "must be HOST:PORT with a port from 1 to 65535");
	if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']')
		start++, hlen -= 2;
	memcpy(host, start, hlen);
	host[hlen] = '\0';
	rc = getaddrinfo(hlen ? host : NULL, colon + 1, &hints, &found);
	if (rc != 0)
		fail(what, text, gai_strerror(rc));
	memcpy(&out->addr, found->ai_addr, found->ai_addrlen);
	freeaddrinfo(found);
}

static void
warn_missing_assets(const char *dir)
{
	char		path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/swagger-ui-bundle.js", dir);
	if (stat(path, &st) != 0)
		fprintf(stderr, "nilus-manager: warning: no docs assets in %s (--docs-dir); "
				"/nilus-manager/docs will lack its scripts\n", dir);
}

/* A socket per HTTP connection: allow as many files as the hard limit does. */
static void
raise_file_limit(void)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
	{
		limit.rlim_cur = limit.rlim_max;
		setrlimit(RLIMIT_NOFILE, &limit);
	}
}

/*
 * Whether the database is usable, and why not, said at start: a wrong DSN shows
 * at once.  Before the metrics listener's thread, the check's only other user.
 */
static void
report_database(void)
{
	char		why[300];

	if (db_ready(why, sizeof(why)))
		fprintf(stderr, "nilus-manager: database ready\n");
	else
		fprintf(stderr, "nilus-manager: database not ready (503 until it is): %s\n", why);
}

static void
block_signals(sigset_t *stop)
{
	sigemptyset(stop);
	sigaddset(stop, SIGTERM);
	sigaddset(stop, SIGINT);
	/* Blocked before any thread starts, so every thread inherits it and only sigwait sees them. */
	pthread_sigmask(SIG_BLOCK, stop, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
main(int argc, char **argv)
{
	struct options o;
	struct listen_addr api_addr, metrics_addr;
	struct api_server_config config;
	struct api_server *api;
	struct metrics_server *metrics = NULL;
	sigset_t	stop;
	double		request_timeout;
	bool		with_metrics;
	bool		with_tls;

	/*
	 * A fixed threshold: glibc's moving one would put large answers on the
	 * heap once one was freed, where they stay after a burst.  Mapped, they
	 * are given back to the system when freed.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	parse_flags(argc, argv, &o);
	protect_dsn_argument(&o);
	o.dsn = resolve_dsn(&o);
	o.listen = from_env(o.listen, "NILUS_LISTEN", "0.0.0.0:8080");
	o.metrics_listen = from_env(o.metrics_listen, "NILUS_METRICS_LISTEN", "0.0.0.0:9090");
	o.threads = from_env(o.threads, "NILUS_THREADS", NULL);
	o.loops = from_env(o.loops, "NILUS_LOOPS", NULL);
	o.max_body = from_env(o.max_body, "NILUS_MAX_BODY", "8M");
	o.docs_dir = from_env(o.docs_dir, "NILUS_DOCS_DIR", NILUS_DOCS_DIR);
	o.max_connections = from_env(o.max_connections, "NILUS_MAX_CONNECTIONS", "1000");
	o.max_per_client = from_env(o.max_per_client, "NILUS_MAX_CONNECTIONS_PER_CLIENT", NULL);
	o.header_timeout = from_env(o.header_timeout, "NILUS_HEADER_TIMEOUT", "10");
	o.body_timeout = from_env(o.body_timeout, "NILUS_BODY_TIMEOUT", "60");
	o.tls_cert = from_env(o.tls_cert, "NILUS_TLS_CERT", NULL);
	o.tls_key = from_env(o.tls_key, "NILUS_TLS_KEY", NULL);
	o.request_timeout = from_env(o.request_timeout, "NILUS_REQUEST_TIMEOUT", "30");
	o.log_format = from_env(o.log_format, "NILUS_LOG_FORMAT", "text");

	parse_listen("--listen", o.listen, &api_addr);
	with_metrics = strcmp(o.metrics_listen, "none") != 0;
	if (with_metrics)
		parse_listen("--metrics-listen", o.metrics_listen, &metrics_addr);
	config = (struct api_server_config) {
		.addr = (const struct sockaddr *) &api_addr.addr,
		.threads = o.threads ? parse_number("--threads", o.threads, 1, 1024) : online_cores(),
		.loops = o.loops ? parse_number("--loops", o.loops, 1, LOOPS_MAX) : default_loops(),
		.cores = online_cores(),
		.max_body = parse_size(o.max_body), .docs_dir = o.docs_dir, .limits = parse_limits(&o),
	};
	config.limits.max_per_client = o.max_per_client
		? parse_number("--max-connections-per-client", o.max_per_client, 0, 100000)
		: config.limits.max / 2;
	load_tls(&o, &config);
	request_timeout = parse_number("--request-timeout", o.request_timeout, 1, 86400);
	if (!access_log_init(o.log_format))
		fail("--log-format", o.log_format, "must be text or json");
	warn_missing_assets(o.docs_dir);
	raise_file_limit();
	block_signals(&stop);
	if (!routes_init())
		return 1;
	if (!openapi_init() || !db_init(o.dsn, request_timeout))
	{
		fprintf(stderr, "nilus-manager: cannot initialize (out of memory?)\n");
		return 1;
	}
	free(owned_dsn);
	api = api_server_start(&config);
	with_tls = config.tls_cert != NULL;
	/* GnuTLS holds its own copy of the credentials now. */
	free(config.tls_cert);
	free(config.tls_key);
	if (!api)
	{
		fprintf(stderr, "nilus-manager: cannot listen on %s\n", o.listen);
		return 1;
	}
	report_database();
	if (with_metrics)
		metrics = metrics_server_start((const struct sockaddr *) &metrics_addr.addr);
	if (with_metrics && !metrics)
	{
		fprintf(stderr, "nilus-manager: cannot listen on %s (metrics)\n", o.metrics_listen);
		return 1;
	}
	fprintf(stderr, "nilus-manager %s: API on %s%s, metrics on %s, %u loops, %u threads, "
			"max body %zu bytes, %u connections (%u per client), request timeout %s s\n",
			NILUS_VERSION, o.listen, with_tls ? " (TLS)" : "", o.metrics_listen, config.loops,
			config.threads, config.max_body, config.limits.max, config.limits.max_per_client,
			o.request_timeout);
	if (!api_server_serve(api, &stop, STOP_GRACE))
	{
		fprintf(stderr, "nilus-manager: cannot serve: %s\n", strerror(errno));
		metrics_server_stop(metrics);
		return 1;
	}
	metrics_server_stop(metrics);
	db_ready_close();
	db_shutdown();
	openapi_free();
	fprintf(stderr, "nilus-manager: stopped\n");
	return 0;
}
