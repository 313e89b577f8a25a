/*
 * percent.h: strict percent-decoding of paths and query strings.
 */
#ifndef NILUS_PERCENT_H
#define NILUS_PERCENT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Percent-decodes into a new string; '+' is a space when form is set.  NULL
 * when malformed or not UTF-8 (overlongs and surrogates included) or when
 * it holds a NUL, which text cannot store.
 */
char	   *percent_decode(const char *raw, size_t len, bool form);

#endif
