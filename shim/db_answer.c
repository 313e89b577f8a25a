/*
 * db_answer.c: a call's outcome as the answer its job is given; see
 * db_answer.h.  Database detail of 5xx errors goes to the log only
 * (errors.c).
 *
 * Memory: an answer stays in memory until its client has read it, and a
 * client that does not read keeps it until its connection times out.
 * Answers up to SMALL_ANSWER bytes are bounded by the connection limit;
 * larger ones share LARGE_ANSWERS_BUDGET bytes: one that does not fit
 * while others are held is refused with 503 "busy" instead of being kept
 * (one is always kept, however large, so that any answer can be served).
 */
#include "db_answer.h"

#include <stdio.h>

#include "errors.h"
#include "metrics.h"

#define SMALL_ANSWER (64 * 1024)
#define LARGE_ANSWERS_BUDGET (64 * 1024 * 1024)

static size_t large_answers_held;	/* only the loop's thread touches it */

static void
answer_error(struct db_answer *answer, int status, const char *code, const char *message)
{
	size_t		len;

	answer->status = status;
	answer->body = error_body(status, code, message, NULL, &len);
	answer->len = len;
	answer->result = NULL;
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
	answer->len = (size_t) PQgetlength(value, 0, 0);
	if (answer->len > SMALL_ANSWER && large_answers_held > 0 &&
		large_answers_held + answer->len > LARGE_ANSWERS_BUDGET)
	{
		PQclear(value);
		answer_error(answer, 503, "busy", "too many large answers wait for their clients to "
					 "read them; try again");
		return;
	}
	if (answer->len > SMALL_ANSWER)
		large_answers_held += answer->len;
	answer->status = route->status;
	answer->body = PQgetvalue(value, 0, 0);
	answer->result = value;
}

void
db_answer_free(void *result)
{
	size_t		len = (size_t) PQgetlength(result, 0, 0);

	if (len > SMALL_ANSWER)
		large_answers_held -= len;
	PQclear(result);
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
	metrics_db_error(answer->status < 500 ? DB_ERROR_CLIENT : DB_ERROR_SERVER);
	PQclear(error);
}

void
db_job_fail(struct db_job *job, int status, const char *message)
{
	struct db_answer answer;

	answer_error(&answer, status, NULL, message);
	job->done(job, &answer);
}
