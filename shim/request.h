/*
 * request.h: the life of one API request, from its request line to its
 * logged completion: libmicrohttpd's callbacks of the API listener.
 */
#ifndef NILUS_REQUEST_H
#define NILUS_REQUEST_H

#include <stddef.h>

#include <microhttpd.h>

/* max_body: --max-body; docs_dir: --docs-dir. */
void		request_init(size_t max_body, const char *docs_dir);

/* MHD_OPTION_URI_LOG_CALLBACK: creates the request from its raw target; see request.c. */
void	   *request_on_uri(void *cls, const char *uri, struct MHD_Connection *connection);

/* MHD_AccessHandlerCallback: called for the headers, each piece of the body, and the end. */
enum MHD_Result request_on_access(void *cls, struct MHD_Connection *connection, const char *url,
								  const char *method, const char *version,
								  const char *upload_data, size_t *upload_data_size,
								  void **req_cls);

/* MHD_RequestCompletedCallback: logs the request and frees it. */
void		request_on_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
								 enum MHD_RequestTerminationCode toe);

/* Requests begun and not yet completed: the graceful stop waits for them. */
int			requests_in_flight(void);

#endif
