/*
 * access_log.c: the access log; see access_log.h.  Whole lines only, and
 * only printable ASCII: paths, queries, methods, tenants and request ids
 * come from the client.
 */
#include "access_log.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define METHOD_MAX 16
#define PATH_MAX_LOGGED 1024
#define QUERY_MAX_LOGGED 1024
#define TENANT_MAX_LOGGED 128
#define LOG_LINE_MAX 8192		/* every field is bounded: a line fits, JSON escapes included */

/* Each loop buffers its own lines and draws its own ids. */
static _Thread_local char log_buffer[64 * 1024];
static _Thread_local size_t log_used;
static _Thread_local uint64_t id_state;
static enum access_log_format log_format;
/* The loops' writes take turns: a write into a full pipe may stop halfway, and another's lines would land inside it. */
static pthread_mutex_t stderr_lock = PTHREAD_MUTEX_INITIALIZER;

bool
access_log_init(const char *format)
{
	if (strcmp(format, "text") == 0)
		log_format = ACCESS_LOG_TEXT;
	else if (strcmp(format, "json") == 0)
		log_format = ACCESS_LOG_JSON;
	else
		return false;
	return true;
}

static void
seed_ids(void)
{
	if (getrandom(&id_state, sizeof(id_state), 0) != sizeof(id_state))
		id_state = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32) ^ (uint64_t) (uintptr_t) &id_state;
}

/* splitmix64: ids need to be distinct, not secret. */
static uint64_t
next_random(void)
{
	uint64_t	z;

	if (id_state == 0)
		seed_ids();
	z = (id_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
access_log_request_id(const char *offered, char *id)
{
	size_t		len = offered ? strlen(offered) : 0;

	if (len > 0 && len <= REQUEST_ID_MAX && strspn(offered, REQUEST_ID_ALPHABET) == len)
	{
		memcpy(id, offered, len + 1);
		return;
	}
	snprintf(id, REQUEST_ID_MAX + 1, "%016" PRIx64 "%016" PRIx64, next_random(), next_random());
}

/* A bounded copy in which every unprintable byte or space is a '?'; NULL stays NULL. */
static const char *
sanitized(const char *s, char *out, size_t size)
{
	if (!s)
		return NULL;
	snprintf(out, size, "%s", s);
	for (char *p = out; *p; p++)
		if (!isprint((unsigned char) *p) || *p == ' ')
			*p = '?';
	return out;
}

void
access_log_flush(void)
{
	ssize_t		written;

	if (log_used == 0)
		return;
	pthread_mutex_lock(&stderr_lock);
	written = write(STDERR_FILENO, log_buffer, log_used);
	pthread_mutex_unlock(&stderr_lock);
	(void) written;				/* a failed write drops the lines: nowhere else to log them */
	log_used = 0;
}

/* The entry with every client-given text made safe. */
struct safe_entry
{
	char		method[METHOD_MAX];
	char		path[PATH_MAX_LOGGED];
	char		query_text[QUERY_MAX_LOGGED];
	char		tenant_text[TENANT_MAX_LOGGED];
	char		request_id[REQUEST_ID_MAX + 1];
	const char *query;
	const char *tenant;
};

static int
text_line(const struct access_entry *e, const struct safe_entry *s, const char *when,
		  char *out, size_t size)
{
	return snprintf(out, size, "%s %s %s%s%s %d %.3fms %zuB id=%s client=%s%s%s%s\n", when,
					s->method, s->path, s->query ? "?" : "", s->query ? s->query : "",
					e->status, e->seconds * 1000.0, e->bytes, s->request_id,
					e->client ? e->client : "-", s->tenant ? " tenant=" : "",
					s->tenant ? s->tenant : "", e->aborted ? " aborted" : "");
}

static int
json_line(const struct access_entry *e, const struct safe_entry *s, const char *when,
		  char *out, size_t size)
{
	/* Whole microseconds: the clock's resolution here, and no float noise in the line. */
	double		ms = (double) (int64_t) (e->seconds * 1e6 + 0.5) / 1000.0;
	json_t	   *line = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:i, s:I, s:f, s:s?, s:s?, s:b}",
								 "time", when, "request_id", s->request_id,
								 "method", s->method, "path", s->path, "query", s->query,
								 "status", e->status, "bytes", (json_int_t) e->bytes,
								 "duration_ms", ms, "client", e->client, "tenant", s->tenant,
								 "aborted", e->aborted);
	size_t		len = line ? json_dumpb(line, out, size - 1, JSON_COMPACT | JSON_REAL_PRECISION(15)) : 0;

	json_decref(line);
	if (len == 0 || len >= size - 1)
		return -1;
	out[len] = '\n';
	return (int) len + 1;
}

void
access_log(const struct access_entry *entry)
{
	char		when[40];
	char		second[24];
	struct safe_entry safe;
	struct timespec now;
	struct tm	tm;
	int			len;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(second, sizeof(second), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when, sizeof(when), "%s.%03ldZ", second, now.tv_nsec / 1000000);
	sanitized(entry->method, safe.method, sizeof(safe.method));
	sanitized(entry->path, safe.path, sizeof(safe.path));
	sanitized(entry->request_id, safe.request_id, sizeof(safe.request_id));
	safe.query = sanitized(entry->query, safe.query_text, sizeof(safe.query_text));
	safe.tenant = sanitized(entry->tenant, safe.tenant_text, sizeof(safe.tenant_text));
	if (sizeof(log_buffer) - log_used < LOG_LINE_MAX)
		access_log_flush();
	len = log_format == ACCESS_LOG_JSON
		? json_line(entry, &safe, when, log_buffer + log_used, LOG_LINE_MAX)
		: text_line(entry, &safe, when, log_buffer + log_used, LOG_LINE_MAX);
	if (len > 0 && len < LOG_LINE_MAX)
		log_used += (size_t) len;
}
