/*
 * openapi.h: the OpenAPI 3.1 document, generated from the route table.
 */
#ifndef NILUS_OPENAPI_H
#define NILUS_OPENAPI_H

#include <stdbool.h>
#include <stddef.h>

/* Builds the document once; false when it cannot be built (a bug: exit). */
bool		openapi_init(void);
const char *openapi_document(size_t *len);
void		openapi_free(void);

#endif
