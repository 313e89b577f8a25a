/*
 * errors.h: the errors users see.  The parameter at fault travels in the
 * error's column field so that the shim can name it without parsing text.
 *
 * Macros around ereport, so that the error's location is the line that
 * raised it.  An error that wants a detail or a hint is written as an
 * ereport with nilus_errparameter() among its parts.
 */
#ifndef NILUS_ERRORS_H
#define NILUS_ERRORS_H

#include "utils/elog.h"

/* Names the parameter at fault (NULL: none); one of an ereport's parts. */
extern int	nilus_errparameter(const char *parameter);

/* A bad value of a parameter: 22023. */
#define nilus_invalid(parameter, ...) \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
			 errmsg(__VA_ARGS__), \
			 nilus_errparameter(parameter)))

/* Nothing found for a parameter (NULL: the call as a whole): P0002. */
#define nilus_not_found(parameter, ...) \
	ereport(ERROR, \
			(errcode(ERRCODE_NO_DATA_FOUND), \
			 errmsg(__VA_ARGS__), \
			 nilus_errparameter(parameter)))

#endif							/* NILUS_ERRORS_H */
