/*
 * db_answer.c: a call's outcome as the answer its job is given; see
 * db_answer.h.  Database detail of 5xx errors goes to the log only
 * (errors.c).
 *
 * Memory: an answer stays with the shim until its client has read it, and
 * a client that does not read keeps it until its connection times out.
 * Answers up to SMALL_ANSWER bytes are bounded by the connection limit.
 * Larger ones share HELD_BUDGET bytes of memory (one is always held,
 * however large); beyond it an answer goes to an unlinked temporary file
 * and is sent from there, as nginx buffers a slow client's answer to disk
 * (proxy_temp_path); the files share FILED_BUDGET bytes, and beyond that
 * the answer is refused with 503 "busy".  The budgets are the process's,
 * shared by every loop.  The file is written on the loop's thread: into
 * the page cache, a few milliseconds for megabytes.
 */
#include "db_answer.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "metrics.h"

#define SMALL_ANSWER (64 * 1024)
#define HELD_BUDGET ((size_t) 64 * 1024 * 1024)
#define FILED_BUDGET ((size_t) 1024 * 1024 * 1024)

/* Every loop's large answers; only answers over SMALL_ANSWER touch them. */
static atomic_size_t held_bytes;
static atomic_size_t filed_bytes;

static void
answer_error(struct db_answer *answer, int status, const char *code, const char *message)
{
	size_t		len;

	answer->status = status;
	answer->body = error_body(status, code, message, NULL, &len);
	answer->len = len;
	answer->result = NULL;
	answer->file = -1;
}

static bool
write_all(int fd, const char *data, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t) n;
	}
	return true;
}

/* The body in an unlinked temporary file of $TMPDIR (or /tmp); -1 when that failed. */
static int
file_body(const char *body, size_t len)
{
	const char *dir = getenv("TMPDIR");
	char		path[4096];
	int			fd;

	snprintf(path, sizeof(path), "%s/nilus-manager-answer-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	unlink(path);
	if (!write_all(fd, body, len))
	{
		fprintf(stderr, "nilus-manager: cannot write a large answer to %s: %s\n", path,
				strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Where a large answer waits for its client: memory, a file, or nowhere (false). */
/* Takes len of the budget (always when none of it is taken); false when it does not fit. */
static bool
reserve(atomic_size_t *taken, size_t len, size_t budget)
{
	size_t		before = atomic_fetch_add(taken, len);

	if (before == 0 || before + len <= budget)
		return true;
	atomic_fetch_sub(taken, len);
	return false;
}

static bool
keep_large(PGresult *value, struct db_answer *answer)
{
	if (reserve(&held_bytes, answer->len, HELD_BUDGET))
		return true;
	if (reserve(&filed_bytes, answer->len, FILED_BUDGET) &&
		(answer->file = file_body(answer->body, answer->len)) < 0)
		atomic_fetch_sub(&filed_bytes, answer->len);
	if (answer->file >= 0)
	{
		answer->body = NULL;
		answer->result = NULL;
		PQclear(value);
		return true;
	}
	PQclear(value);
	return false;
}

void
db_answer_value(const struct route *route, PGresult *value, struct db_answer *answer)
{
	if (!value || PQntuples(value) != 1 || PQnfields(value) != 1 || PQgetisnull(value, 0, 0))
	{
		fprintf(stderr, "nilus-manager: %s: nilus.%s returned no JSON\n", route->pattern,
				route->function);
		PQclear(value);
		answer_error(answer, 500, NULL, "internal error");
		return;
	}
	answer->status = route->status;
	answer->body = PQgetvalue(value, 0, 0);
	answer->len = (size_t) PQgetlength(value, 0, 0);
	answer->result = value;
	answer->file = -1;
	if (answer->len > SMALL_ANSWER && !keep_large(value, answer))
		answer_error(answer, 503, "busy", "too many large answers wait for their clients to "
					 "read them; try again");
}

void
db_answer_free(void *result)
{
	size_t		len = (size_t) PQgetlength(result, 0, 0);

	if (len > SMALL_ANSWER)
		atomic_fetch_sub(&held_bytes, len);
	PQclear(result);
}

void
db_answer_close_file(void *file)
{
	int			fd = (int) (intptr_t) file;
	struct stat st;

	if (fstat(fd, &st) == 0)
		atomic_fetch_sub(&filed_bytes, (size_t) st.st_size);
	close(fd);
}

void
db_answer_failure(const struct route *route, PGresult *error, struct db_answer *answer)
{
	char	   *body;
	size_t		len;

	answer->status = error_from_result(error, route->pattern, &body, &len);
	answer->body = body;
	answer->len = len;
	answer->result = NULL;
	answer->file = -1;
	metrics_db_error(answer->status < 500 ? DB_ERROR_CLIENT :
					 answer->status == 504 ? DB_ERROR_TIMEOUT : DB_ERROR_SERVER);
	PQclear(error);
}

void
db_job_fail(struct db_job *job, int status, const char *message)
{
	struct db_answer answer;

	answer_error(&answer, status, NULL, message);
	job->done(job, &answer);
}
