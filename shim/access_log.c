/*
 * access_log.c: the access log; see access_log.h.  Whole lines only, and
 * only printable ASCII: unmatched paths and methods come from the client.
 */
#include "access_log.h"

#include <ctype.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define METHOD_MAX 16
#define PATH_MAX_LOGGED 256
#define LOG_LINE_MAX 512		/* method and path are bounded: a line fits */

static char log_buffer[64 * 1024];
static size_t log_used;

/* A bounded copy in which every unprintable byte or space is a '?'. */
static void
sanitized(const char *s, char *out, size_t size)
{
	snprintf(out, size, "%s", s);
	for (; *out; out++)
		if (!isprint((unsigned char) *out) || *out == ' ')
			*out = '?';
}

void
access_log_flush(void)
{
	ssize_t		written = log_used > 0 ? write(STDERR_FILENO, log_buffer, log_used) : 0;

	(void) written;				/* a failed write drops the lines: nowhere else to log them */
	log_used = 0;
}

void
access_log(const char *method, const char *path, int status, double seconds, bool aborted)
{
	char		when[32];
	char		safe_method[METHOD_MAX];
	char		safe_path[PATH_MAX_LOGGED];
	struct timespec now;
	struct tm	tm;
	int			len;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	sanitized(method, safe_method, sizeof(safe_method));
	sanitized(path, safe_path, sizeof(safe_path));
	if (sizeof(log_buffer) - log_used < LOG_LINE_MAX)
		access_log_flush();
	len = snprintf(log_buffer + log_used, LOG_LINE_MAX, "%s.%03ldZ %s %s %d %.3fms%s\n", when,
				   now.tv_nsec / 1000000, safe_method, safe_path, status, seconds * 1000.0,
				   aborted ? " aborted" : "");
	if (len > 0 && len < LOG_LINE_MAX)
		log_used += (size_t) len;
}
