/*
 * args.h: reading and checking the SQL functions' arguments.
 *
 * Arguments are read by the name the SQL declaration (sql/) gives them, so
 * the declaration alone says their order: a C function reading a name its
 * declaration lacks fails loudly on every call.  An optional argument passed
 * as NULL means "not given", so that a caller can bind every parameter of a
 * route and leave the absent ones NULL.  Errors name the argument.
 */
#ifndef NILUS_ARGS_H
#define NILUS_ARGS_H

#include "fmgr.h"

#include "time_range.h"

/* The position of argument `name` of the calling SQL function. */
extern int	nilus_argno(FunctionCallInfo fcinfo, const char *name);
extern bool nilus_arg_given(FunctionCallInfo fcinfo, const char *name);
/* "tenant", required. */
extern char *nilus_arg_tenant(FunctionCallInfo fcinfo);
/* A required name: 1 to 255 bytes, no control characters. */
extern char *nilus_arg_name(FunctionCallInfo fcinfo, const char *name);
extern char *nilus_arg_text(FunctionCallInfo fcinfo, const char *name);	/* NULL if not given */
extern bool nilus_arg_bool(FunctionCallInfo fcinfo, const char *name, bool *value);	/* given? */
/* "limit" (NILUS_LIMIT_DEFAULT when not given) and "offset" (0). */
extern int32 nilus_arg_limit(FunctionCallInfo fcinfo);
extern int32 nilus_arg_offset(FunctionCallInfo fcinfo);
extern void nilus_check_name(const char *value, const char *parameter);
/* Narrows [lo, hi) by the inclusive bounds given as arguments gte and lte. */
extern void nilus_range_narrow(NilusRange *range, FunctionCallInfo fcinfo,
							   const char *gte, const char *lte);

#endif							/* NILUS_ARGS_H */
