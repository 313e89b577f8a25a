/*
 * docs.h: the documentation pages (Swagger UI, ReDoc), their assets and the
 * OpenAPI document, served without a token.
 */
#ifndef NILUS_DOCS_H
#define NILUS_DOCS_H

#include "response.h"
#include "routes.h"

/* dir: where swagger-ui-bundle.js & co. are (--docs-dir). */
void		docs_init(const char *dir);

/* The response of a docs route (asset: the decoded file name for RK_DOCS_ASSET). */
struct response *docs_response(const struct route *route, const char *asset);

#endif
