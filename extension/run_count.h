/*
 * run_count.h: the exact number of runs a listing's filter selects.
 */
#ifndef NILUS_RUN_COUNT_H
#define NILUS_RUN_COUNT_H

#include "run_filter.h"

/* Call within SPI. */
extern int64 nilus_count_runs(const NilusRunFilter *filter);

#endif							/* NILUS_RUN_COUNT_H */
