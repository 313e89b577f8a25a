/*
 * tls.c: GnuTLS sessions for the API's connections; see tls.h.
 */
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

/*
 * TLS 1.2 and 1.3 only, GnuTLS's NORMAL ciphers for them (as nginx's and
 * HAProxy's defaults today): 1.0 and 1.1 are refused at the handshake.
 */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Read-only once made: every loop's sessions share it, which GnuTLS allows. */
struct tls_config
{
	gnutls_certificate_credentials_t credentials;
	gnutls_priority_t priorities;
};

struct tls_config *
tls_config_new(const char *cert_pem, const char *key_pem, char *why, size_t why_size)
{
	struct tls_config *config = calloc(1, sizeof(*config));
	gnutls_datum_t cert = {(unsigned char *) cert_pem, (unsigned int) strlen(cert_pem)};
	gnutls_datum_t key = {(unsigned char *) key_pem, (unsigned int) strlen(key_pem)};
	int			rc = GNUTLS_E_MEMORY_ERROR;

	if (config && (rc = gnutls_certificate_allocate_credentials(&config->credentials)) == 0 &&
		(rc = gnutls_certificate_set_x509_key_mem(config->credentials, &cert, &key,
												  GNUTLS_X509_FMT_PEM)) == 0 &&
		(rc = gnutls_priority_init(&config->priorities, TLS_PRIORITIES, NULL)) == 0)
		return config;
	snprintf(why, why_size, "%s", gnutls_strerror(rc));
	if (config && config->credentials)
		gnutls_certificate_free_credentials(config->credentials);
	free(config);
	return NULL;
}

void
tls_config_free(struct tls_config *config)
{
	if (!config)
		return;
	gnutls_priority_deinit(config->priorities);
	gnutls_certificate_free_credentials(config->credentials);
	free(config);
}

struct tls_session *
tls_session_new(const struct tls_config *config, int fd)
{
	gnutls_session_t session;

	if (gnutls_init(&session, GNUTLS_SERVER | GNUTLS_NONBLOCK) != 0)
		return NULL;
	if (gnutls_priority_set(session, config->priorities) != 0 ||
		gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, config->credentials) != 0)
	{
		gnutls_deinit(session);
		return NULL;
	}
	gnutls_certificate_server_set_request(session, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_int(session, fd);
	return (struct tls_session *) session;
}

void
tls_session_free(struct tls_session *session)
{
	if (!session)
		return;
	gnutls_bye((gnutls_session_t) session, GNUTLS_SHUT_WR);
	gnutls_deinit((gnutls_session_t) session);
}

/* A GnuTLS result as what to wait for. */
static int
wait_code(gnutls_session_t session, ssize_t rc)
{
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
		return gnutls_record_get_direction(session) ? TLS_WANT_WRITE : TLS_WANT_READ;
	return TLS_FAILED;
}

int
tls_handshake(struct tls_session *tls)
{
	gnutls_session_t session = (gnutls_session_t) tls;
	int			rc = gnutls_handshake(session);

	return rc == 0 ? 0 : wait_code(session, rc);
}

ssize_t
tls_recv(struct tls_session *tls, char *buf, size_t len)
{
	gnutls_session_t session = (gnutls_session_t) tls;
	ssize_t		rc = gnutls_record_recv(session, buf, len);

	/* A client that drops the connection without close_notify has still ended it. */
	if (rc == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	return rc >= 0 ? rc : wait_code(session, rc);
}

ssize_t
tls_send(struct tls_session *tls, const char *buf, size_t len)
{
	gnutls_session_t session = (gnutls_session_t) tls;
	ssize_t		rc = gnutls_record_send(session, buf, len);

	return rc >= 0 ? rc : wait_code(session, rc);
}

const char *
tls_library_version(void)
{
	return gnutls_check_version(NULL);
}
