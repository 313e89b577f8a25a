/*
 * framing.h: what a request's headers say about where it ends: the rules
 * of RFC 9112 that libmicrohttpd 0.9.75 does not enforce itself, checked
 * before anything else so that a request whose end two parties could see
 * differently (request smuggling) is refused, and its connection closed.
 */
#ifndef NILUS_FRAMING_H
#define NILUS_FRAMING_H

#include <stdbool.h>

#include <microhttpd.h>

#include "response.h"

/*
 * False with the refusal when a header name is not a token, Content-Length
 * or Transfer-Encoding comes twice or both together, the transfer coding
 * is not just "chunked" (501), or Expect asks for anything but
 * 100-continue (417).  After such a refusal the connection must close.
 */
bool		framing_ok(struct MHD_Connection *connection, struct refusal *refusal);

#endif
