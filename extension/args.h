/*
 * args.h: reading and checking the SQL functions' arguments.  An optional
 * argument passed as NULL means "not given".
 */
#ifndef NILUS_ARGS_H
#define NILUS_ARGS_H

#include "fmgr.h"

#include "time_range.h"

#define NILUS_DEFAULT_LIMIT 50
#define NILUS_MAX_LIMIT 1000

extern char *nilus_arg_tenant(FunctionCallInfo fcinfo, int argno);
extern char *nilus_arg_name(FunctionCallInfo fcinfo, int argno, const char *parameter);
extern char *nilus_arg_text(FunctionCallInfo fcinfo, int argno);	/* NULL if not given */
extern int32 nilus_arg_limit(FunctionCallInfo fcinfo, int argno);
extern int32 nilus_arg_offset(FunctionCallInfo fcinfo, int argno);
extern void nilus_check_name(const char *value, const char *parameter);
/* Narrows [lo, hi) by the inclusive bounds given as arguments gte and lte. */
extern void nilus_range_narrow(NilusRange *range, FunctionCallInfo fcinfo,
							   int gte_argno, int lte_argno);

#endif							/* NILUS_ARGS_H */
