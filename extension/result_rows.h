/*
 * result_rows.h: a set-returning SQL function's rows, taken from the
 * statement just run with SPI.
 */
#ifndef NILUS_RESULT_ROWS_H
#define NILUS_RESULT_ROWS_H

#include "fmgr.h"

/*
 * Returns SPI_tuptable's rows as the calling function's result set (the
 * materialize mode); their columns must be the declared result's, in its
 * order and types.  Call before SPI_finish.
 */
extern void nilus_return_spi_rows(FunctionCallInfo fcinfo);

#endif							/* NILUS_RESULT_ROWS_H */
