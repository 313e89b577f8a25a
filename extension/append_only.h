/*
 * append_only.h: the one way past the append-only tables' guard, for
 * retention's C code.
 */
#ifndef NILUS_APPEND_ONLY_H
#define NILUS_APPEND_ONLY_H

#include "spi.h"

/*
 * Runs a statement that deletes records of the append-only tables (as
 * nilus_execute, read_only false, no row limit); their UPDATE and TRUNCATE
 * stay refused, and the permission ends with the statement.
 */
extern int	nilus_execute_pruning(NilusPlan *plan, Datum *values, const char *nulls);

#endif							/* NILUS_APPEND_ONLY_H */
