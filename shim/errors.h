/*
 * errors.h: the JSON errors clients see, and how a database error becomes one.
 */
#ifndef NILUS_ERRORS_H
#define NILUS_ERRORS_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/* The error code of an HTTP status ("invalid_parameter" for 400, ...). */
const char *error_code(int status);

/*
 * {"error": {"status", "code", "message", "parameter"?}} as a malloc'd string.
 * code NULL = error_code(status); parameter NULL = not known.
 */
char	   *error_body(int status, const char *code, const char *message, const char *parameter,
					   size_t *len);

/*
 * Maps a failed result to its HTTP status and error body.  5xx bodies carry
 * no database detail; that goes to the log, tagged with the route.
 */
int			error_from_result(const PGresult *res, const char *route, char **body, size_t *len);

/* True when the error means the database is unreachable or going away (503). */
bool		error_is_unavailable(const char *sqlstate);

/* True when the transaction may simply be run again (serialization failure, deadlock). */
bool		error_is_retryable(const char *sqlstate);

#endif
