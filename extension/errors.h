/*
 * errors.h: the errors users see.  The parameter at fault travels in the
 * error's column field so that the shim can name it without parsing text.
 */
#ifndef NILUS_ERRORS_H
#define NILUS_ERRORS_H

extern void nilus_invalid(const char *parameter, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();
extern void nilus_not_found(const char *parameter, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

#endif							/* NILUS_ERRORS_H */
