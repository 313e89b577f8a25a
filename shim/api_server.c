/*
 * api_server.c: the API listener: its daemon, the one loop that serves it
 * and the database pool on the same thread, and the graceful stop.
 */
#include "api_server.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "access_log.h"
#include "db.h"
#include "loop.h"
#include "request.h"
#include "response.h"

/*
 * Per connection: request line and headers must fit in this, which is what
 * turns header floods into 431 and keeps 256 idle keep-alive connections
 * small.  Bodies are not held there but in the request's own buffer.
 */
#define CONNECTION_MEMORY (32 * 1024)
#define IDLE_TIMEOUT 60			/* seconds without progress while an answer is sent */
#define IDLE_WAKEUP_MS 1000		/* the loop's longest sleep */

static bool stopping;

/* Paths and arguments reach us still percent-encoded: we decode them strictly ourselves. */
static size_t
keep_escaped(void *cls, struct MHD_Connection *connection, char *s)
{
	(void) cls, (void) connection;
	return strlen(s);
}

/*
 * TLS 1.2 and 1.3 only, GnuTLS's NORMAL ciphers for them (as nginx's and
 * HAProxy's defaults today): 1.0 and 1.1 are refused at the handshake.
 */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct MHD_Daemon *
api_server_start(const struct api_server_config *cfg)
{
	struct MHD_OptionItem tls[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, cfg->tls_cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, cfg->tls_key},
		{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) TLS_PRIORITIES},
		{MHD_OPTION_END, 0, NULL},
	};

	request_init(cfg->max_body, cfg->docs_dir);
	connections_init(&cfg->limits);
	/* No thread of MHD's own: api_server_serve's loop runs it beside the database connections. */
	return MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
							(cfg->ipv6 ? MHD_USE_IPv6 : 0) | (cfg->tls_cert ? MHD_USE_TLS : 0),
							0, NULL, NULL, request_on_access, NULL,
							MHD_OPTION_SOCK_ADDR, cfg->addr,
							MHD_OPTION_CONNECTION_LIMIT, connections_accept_limit(),
							MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_per_client,
							MHD_OPTION_NOTIFY_CONNECTION, connections_on_notify, NULL,
							MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY,
							MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) IDLE_TIMEOUT,
							MHD_OPTION_URI_LOG_CALLBACK, request_on_uri, NULL,
							MHD_OPTION_NOTIFY_COMPLETED, request_on_completed, NULL,
							MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
							MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int) 1024,
							MHD_OPTION_ARRAY, cfg->tls_cert ? tls : tls + 3,
							MHD_OPTION_END);
}

/* ---- the loop ---- */

struct stop_watch
{
	struct watcher watcher;
	int			fd;				/* signalfd of the stop signals */
	struct MHD_Daemon *daemon;
	MHD_socket	listener;
	double		deadline;
	double		grace;
};

/* MHD's own epoll set became readable: MHD_run, after every wait, takes it from there. */
static void
on_daemon_event(struct watcher *w, uint32_t events)
{
	(void) w, (void) events;
}

static void
on_stop_signal(struct watcher *w, uint32_t events)
{
	struct stop_watch *stop = (struct stop_watch *) w;
	struct signalfd_siginfo info;

	(void) events;
	if (read(stop->fd, &info, sizeof(info)) != sizeof(info) || stopping)
		return;
	fprintf(stderr, "nilus-manager: %s received, finishing requests in flight\n",
			info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	stopping = true;
	responses_close_connections();
	stop->deadline = monotonic_seconds() + stop->grace;
	stop->listener = MHD_quiesce_daemon(stop->daemon);
	/* New connections are refused at once instead of waiting in the backlog until we exit. */
	if (stop->listener != MHD_INVALID_SOCKET)
		shutdown(stop->listener, SHUT_RDWR);
}

static int
next_wakeup_ms(struct MHD_Daemon *daemon)
{
	MHD_UNSIGNED_LONG_LONG mhd_ms;
	int			ms = stopping ? 10 : IDLE_WAKEUP_MS;
	int			db_ms = db_tick_due_ms();

	if (MHD_get_timeout(daemon, &mhd_ms) == MHD_YES && mhd_ms < (MHD_UNSIGNED_LONG_LONG) ms)
		ms = (int) mhd_ms;
	return db_ms >= 0 && db_ms < ms ? db_ms : ms;
}

static bool
watch_daemon(struct MHD_Daemon *daemon, struct watcher *w)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);

	return info && loop_watch(w, info->epoll_fd, EPOLLIN);
}

bool
api_server_serve(struct MHD_Daemon *daemon, const sigset_t *stop_signals, double grace)
{
	struct watcher daemon_watcher = {.on_event = on_daemon_event};
	struct stop_watch stop = {.watcher.on_event = on_stop_signal, .daemon = daemon,
	.listener = MHD_INVALID_SOCKET, .grace = grace};

	stop.fd = signalfd(-1, stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
	if (stop.fd < 0 || !watch_daemon(daemon, &daemon_watcher) ||
		!loop_watch(&stop.watcher, stop.fd, EPOLLIN))
		return false;
	while (!stopping || (requests_in_flight() > 0 && monotonic_seconds() < stop.deadline))
	{
		loop_wait(next_wakeup_ms(daemon));
		db_tick();
		MHD_run(daemon);
		connections_sweep();
		db_flush();
		access_log_flush();
	}
	if (requests_in_flight() > 0)
		fprintf(stderr, "nilus-manager: stopping with %d requests unfinished\n",
				requests_in_flight());
	db_cancel_all();
	MHD_run(daemon);
	MHD_stop_daemon(daemon);
	access_log_flush();
	if (stop.listener != MHD_INVALID_SOCKET)
		close(stop.listener);
	close(stop.fd);
	return true;
}
