/*
 * tls.h: TLS for the API's connections, with GnuTLS directly: TLS 1.2 and
 * 1.3 only, non-blocking handshakes and records over the loop's sockets.
 */
#ifndef NILUS_TLS_H
#define NILUS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_config;
struct tls_session;

/* The PEM certificate chain and key; NULL with why filled when they do not load. */
struct tls_config *tls_config_new(const char *cert_pem, const char *key_pem, char *why,
								  size_t why_size);
void		tls_config_free(struct tls_config *config);

/* A server session over the connected, non-blocking socket; NULL without memory. */
struct tls_session *tls_session_new(const struct tls_config *config, int fd);
/* Sends the close_notify if it goes at once, and frees the session. */
void		tls_session_free(struct tls_session *session);

/* What a call left to wait for. */
#define TLS_WANT_READ (-1)
#define TLS_WANT_WRITE (-2)
#define TLS_FAILED (-3)

/* 0 once the handshake is done, else one of the TLS_ codes. */
int			tls_handshake(struct tls_session *session);

/* Bytes received (0 at the peer's end), or a TLS_ code. */
ssize_t		tls_recv(struct tls_session *session, char *buf, size_t len);

/*
 * Bytes sent, or a TLS_ code.  After TLS_WANT_*, the next call must offer
 * the same bytes again (GnuTLS resends the record it has built).
 */
ssize_t		tls_send(struct tls_session *session, const char *buf, size_t len);

/* The GnuTLS version, for the build info. */
const char *tls_library_version(void);

#endif
