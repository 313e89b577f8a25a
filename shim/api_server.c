/*
 * api_server.c: the API listener: its socket, the one loop that serves it
 * and the database pool on the same thread, and the graceful stop.
 */
#include "api_server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "access_log.h"
#include "db.h"
#include "http_conn.h"
#include "loop.h"
#include "request.h"
#include "response.h"
#include "tls.h"

#define IDLE_WAKEUP_MS 1000		/* the loop's longest sleep */
#define STOPPING_WAKEUP_MS 10

struct api_server
{
	struct watcher stop_watcher;
	int			stop_fd;		/* signalfd of the stop signals */
	struct http_server *http;
	struct tls_config *tls;
	bool		stopping;
	double		deadline;
	double		grace;
};

struct api_server *
api_server_start(const struct api_server_config *cfg)
{
	struct api_server *server = calloc(1, sizeof(*server));
	char		why[256];
	struct http_server_config http = {.handler = &request_handler, .limits = cfg->limits};

	if (!server)
		return NULL;
	server->stop_fd = -1;
	request_init(cfg->max_body, cfg->docs_dir);
	if (cfg->tls_cert && !(server->tls = tls_config_new(cfg->tls_cert, cfg->tls_key, why,
														 sizeof(why))))
	{
		fprintf(stderr, "nilus-manager: cannot use --tls-cert and --tls-key: %s\n", why);
		free(server);
		return NULL;
	}
	http.tls = server->tls;
	http.listener = http_listen(cfg->addr, false);
	if (http.listener < 0)
		fprintf(stderr, "nilus-manager: cannot listen: %s\n", strerror(errno));
	else if (!(server->http = http_server_start(&http)))
		close(http.listener);
	if (!server->http)
	{
		tls_config_free(server->tls);
		free(server);
		return NULL;
	}
	return server;
}

static void
on_stop_signal(struct watcher *w, uint32_t events)
{
	struct api_server *server = (struct api_server *) w;
	struct signalfd_siginfo info;

	(void) events;
	if (read(server->stop_fd, &info, sizeof(info)) != sizeof(info) || server->stopping)
		return;
	fprintf(stderr, "nilus-manager: %s received, finishing requests in flight\n",
			info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	server->stopping = true;
	responses_close_connections();
	server->deadline = monotonic_seconds() + server->grace;
	/* New connections are refused at once instead of waiting in the backlog until we exit. */
	http_server_stop_accepting(server->http);
}

static int
next_wakeup_ms(const struct api_server *server)
{
	int			ms = server->stopping ? STOPPING_WAKEUP_MS : IDLE_WAKEUP_MS;
	int			db_ms = db_tick_due_ms();

	return db_ms >= 0 && db_ms < ms ? db_ms : ms;
}

static void
api_server_free(struct api_server *server)
{
	http_server_free(server->http);
	tls_config_free(server->tls);
	if (server->stop_fd >= 0)
		close(server->stop_fd);
	free(server);
}

bool
api_server_serve(struct api_server *server, const sigset_t *stop_signals, double grace)
{
	server->grace = grace;
	server->stop_watcher.on_event = on_stop_signal;
	server->stop_fd = signalfd(-1, stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
	if (server->stop_fd < 0 || !loop_watch(&server->stop_watcher, server->stop_fd, EPOLLIN))
	{
		api_server_free(server);
		return false;
	}
	while (!server->stopping ||
		   (requests_in_flight() > 0 && monotonic_seconds() < server->deadline))
	{
		loop_wait(next_wakeup_ms(server));
		db_tick();
		http_server_tick(server->http);
		db_flush();
		access_log_flush();
	}
	if (requests_in_flight() > 0)
		fprintf(stderr, "nilus-manager: stopping with %d requests unfinished\n",
				requests_in_flight());
	db_cancel_all();
	api_server_free(server);
	access_log_flush();
	return true;
}
