/*
 * db_answer.h: how a call's outcome becomes the answer its job is given:
 * the function's JSON, or an error body in the format of doc/errors.md.
 */
#ifndef NILUS_DB_ANSWER_H
#define NILUS_DB_ANSWER_H

#include <libpq-fe.h>

#include "db.h"

/* The function's one JSON value; a missing one is a 500.  Takes value. */
void		db_answer_value(const struct route *route, PGresult *value, struct db_answer *answer);
/* A failed call's status and body, counted in the metrics.  Takes error. */
void		db_answer_failure(const struct route *route, PGresult *error, struct db_answer *answer);
/* Answers the job with an error of the shim's own (503 and the like). */
void		db_job_fail(struct db_job *job, int status, const char *message);

#endif
