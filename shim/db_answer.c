/*
 * db_answer.c: a call's outcome as the answer its job is given; see
 * db_answer.h.  Database detail of 5xx errors goes to the log only
 * (errors.c).
 */
#include "db_answer.h"

#include <stdio.h>

#include "errors.h"
#include "metrics.h"

static void
answer_error(struct db_answer *answer, int status, const char *message)
{
	size_t		len;

	answer->status = status;
	answer->body = error_body(status, NULL, message, NULL, &len);
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
		answer_error(answer, 500, "internal error");
		return;
	}
	answer->status = route->status;
	answer->body = PQgetvalue(value, 0, 0);
	answer->len = (size_t) PQgetlength(value, 0, 0);
	answer->result = value;
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

	answer_error(&answer, status, message);
	job->done(job, &answer);
}
