/*
 * errors.c: the part of an error that names the parameter at fault.
 */
#include "postgres.h"

#include "errors.h"

int
nilus_errparameter(const char *parameter)
{
	return parameter ? err_generic_string(PG_DIAG_COLUMN_NAME, parameter) : 0;
}
